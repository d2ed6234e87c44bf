"""Sealing mobile numbers for storage (each one's blind index and token, contacts/tokens.py) in a child process,
pipelined with the import that needs them. Django-free: the child imports only this module, contacts/tokens.py and
`cryptography`.

Why a process: an import's stream is bound by its own process's Python (one GIL for the parser and the COPY
thread), and sealing cost as much CPU as parsing (AES-GCM + keyed BLAKE2b, ~1.5 µs a number; neither releases the GIL).
The parser `send`s each chunk's numbers the moment the chunk is parsed and goes on with the next one; the COPY
thread `receive`s the answers in the same order. The child works on the machine's other core meanwhile.

Protocol (pipes, bytes): the keys first, as one JSON line on the child's standard input (never its command line or
environment); then per chunk a line with the payload's length and whether tokens are wanted (1 or 0: a re-import
wants blind indexes only), and the payload, the chunk's numbers joined by newlines ("" for a row without one). The
answer: its length on a line, then the blind indexes (hex) and the tokens, one per line, in the request's order; a
row without a number, or a token not wanted, is an empty line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, cast

from contacts.tokens import blind_indexer, token_sealer

ROOT = Path(__file__).resolve().parent.parent
# Linux's fcntl to size a pipe (F_SETPIPE_SZ): a chunk's request (~400 KB for 25,000 numbers) then fits in the
# pipe, so the parser never waits while the child writes the previous answer. Not fatal where refused.
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_BYTES = 1 << 20


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to a pipe. A write that the process is stopped in (SIGSTOP / SIGCONT: a paused container,
    Ctrl-Z, a profiler attaching) returns having written part of it, and a buffered writer's `write` + `flush`
    then lost the rest: an answer of 3.3 MB arrived ~0.8 MB short, its lines out of step (tested)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class SealerGone(OSError):
    """The child ended or answered out of step: the caller seals the chunk itself."""


class Sealer:
    """The child process and its two pipes. `send` is called by one thread, `receive` by another, in the same
    order; a thread blocked on a pipe releases the GIL."""

    def __init__(self, fernet_key: str, hash_key: bytes) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "contacts.sealer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT
        )
        self._stdin = cast(IO[bytes], self.proc.stdin)
        self._stdout = cast(IO[bytes], self.proc.stdout)
        for pipe in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
        self._write(json.dumps({"fernet_key": fernet_key, "hash_key": hash_key.hex()}).encode() + b"\n")
        self.sent: deque[int] = deque()  # the sizes of the chunks sent and not yet answered, oldest first

    def _write(self, data: bytes) -> None:
        try:
            write_all(self._stdin.fileno(), data)
        except (OSError, ValueError) as exc:  # a broken pipe, or closed meanwhile by `stop`
            raise SealerGone(f"the sealer process is gone (exit code {self.proc.poll()})") from exc

    def send(self, numbers: Sequence[str], *, tokens: bool = True) -> bool:
        """Ask for one chunk's blind indexes and, with `tokens`, its tokens; False when this chunk cannot go (a
        number holding a newline, or one that is not valid UTF-8): the caller seals it itself. Raises SealerGone
        when the child is gone."""
        try:
            payload = "\n".join(numbers).encode()
        except UnicodeEncodeError:
            return False
        if payload.count(b"\n") != len(numbers) - 1:
            return False
        self._write(b"%d %d\n" % (len(payload), tokens) + payload)
        self.sent.append(len(numbers))
        return True

    def receive(self) -> tuple[list[str], list[str]]:
        """The blind indexes and tokens of the oldest chunk sent ("" where the row has no number)."""
        count = self.sent.popleft()
        header = self._stdout.readline()
        if not header.endswith(b"\n"):
            raise SealerGone(f"the sealer process ended (exit code {self.proc.poll()})")
        size = int(header)
        payload = self._stdout.read(size)
        lines = payload.decode("ascii").split("\n") if len(payload) == size else []
        if len(lines) != 2 * count:
            raise SealerGone(f"the sealer process answered out of step ({len(lines)} lines for {count} numbers)")
        return lines[:count], lines[count:]

    def stop(self) -> None:
        """Kill the child (the import failed, or it misbehaved): a thread blocked on its pipes is released."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.close()

    def close(self) -> None:
        """Close its input (it ends at the end of its input) and reap it."""
        with contextlib.suppress(OSError, ValueError):
            self._stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError, ValueError):
            self._stdout.close()


def serve() -> None:
    """The child: the keys, then one answer per request until its input ends (the import's process ending, or
    killed, ends it too). Ctrl-C on a terminal reaches the whole process group: the import decides, not this."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout_fd = sys.stdin.buffer, sys.stdout.fileno()
    setup = json.loads(stdin.readline())
    seal = token_sealer(setup["fernet_key"])
    index = blind_indexer(bytes.fromhex(setup["hash_key"]))
    while header := stdin.readline():
        size, with_tokens = (int(field) for field in header.split())
        numbers = stdin.read(size).split(b"\n")
        hashes = index(numbers)
        tokens = seal(numbers) if with_tokens else [b""] * len(numbers)
        answer = b"\n".join(hashes) + b"\n" + b"\n".join(tokens)
        write_all(stdout_fd, b"%d\n" % len(answer) + answer)


if __name__ == "__main__":
    serve()
