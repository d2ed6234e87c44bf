"""Sealing mobile numbers for storage: each one's blind index (keyed BLAKE2b) and, unless its contact already stores
it, its Fernet token. Django-free, so that a large import can run it in a child process (`Sealer`) while the
import's own process parses the next chunk: the stream is bound by this process's Python (its GIL), and the
encryptions were a third of it (0.5-0.6 s of CPU per 200k new numbers).

The child gets its keys on its standard input (never its command line or environment), then answers one JSON
line per chunk. `contacts.crypto` holds the keys' settings; `seal_numbers` is the same code in both processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, cast

from cryptography.fernet import Fernet, MultiFernet

ROOT = Path(__file__).resolve().parent.parent

Digest = Callable[[str], str]
Encrypt = Callable[[bytes], bytes]


def blind_hasher(key: bytes) -> Digest:
    """The mobile number's blind index with `key` set up once: keyed BLAKE2b (hex, 32 characters), "" for none."""
    base = hashlib.blake2b(key=key[:64], digest_size=16, person=b"herald-mobile")

    def digest(mobile: str) -> str:
        if not mobile:
            return ""
        h = base.copy()
        h.update(mobile.encode())
        return h.hexdigest()

    return digest


def seal_numbers(
    numbers: Sequence[str], known: Sequence[str] | None, digest: Digest, encrypt: Encrypt
) -> tuple[list[str], list[str | None]]:
    """Each number's blind index ("" for none) and token; None where there is no number, or where `known` (the
    blind index its contact stores) is the same: the merge keeps the stored token for that row."""
    hashes: list[str] = []
    sealed: list[str | None] = []
    for i, number in enumerate(numbers):
        h = digest(number) if number else ""
        hashes.append(h)
        sealed.append(None if not h or (known is not None and known[i] == h) else encrypt(number.encode()).decode())
    return hashes, sealed


class Sealer:
    """`seal_numbers` in a child process (`python -c ...serve()`), one request at a time. A thread waiting for its
    answer releases the GIL, so the import's process parses the next chunk meanwhile."""

    def __init__(self, fernet_keys: Sequence[str], hash_key: bytes) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from contacts.sealer import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        self._send({"keys": list(fernet_keys), "hash_key": hash_key.hex()})

    def _send(self, message: Any) -> None:
        stdin = cast(IO[bytes], self.proc.stdin)
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()

    def seal(self, numbers: Sequence[str], known: Sequence[str] | None) -> tuple[list[str], list[str | None]]:
        self._send([list(numbers), None if known is None else list(known)])
        line = cast(IO[bytes], self.proc.stdout).readline()
        if not line:
            raise OSError(f"the sealer process ended (exit code {self.proc.poll()})")
        hashes, sealed = json.loads(line)
        if len(hashes) != len(numbers):
            raise OSError("the sealer process answered for another request")
        return hashes, sealed

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # the child ends at the end of its input
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def serve() -> None:
    """The child: keys on the first line, then one `[numbers, known]` request per line, each answered by a line."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    setup = json.loads(stdin.readline())
    encrypt = MultiFernet([Fernet(key.encode()) for key in setup["keys"]]).encrypt
    digest = blind_hasher(bytes.fromhex(setup["hash_key"]))
    for line in stdin:
        numbers, known = json.loads(line)
        stdout.write(json.dumps(seal_numbers(numbers, known, digest, encrypt)).encode() + b"\n")
        stdout.flush()
