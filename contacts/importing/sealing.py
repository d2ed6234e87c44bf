"""How an import seals its mobile numbers (blind index + Fernet token, contacts/crypto.py) before staging them: no
plain number reaches the database, not even a temp table. The first chunk chooses one of three ways:

- **held** (a re-import: a third or more of the first chunk's sampled addresses are stored with a number): rows are
  staged with their blind index only and the plain numbers stay in this process's memory (`HeldNumbers`); the
  merge compares blind indexes and asks for a token only for the rows that need one, a new contact or a changed
  number (`ContactMerge._seal_held`). A re-import of unchanged numbers encrypts nothing and looks nothing up; a
  large one has its blind indexes computed by the sealer process.
- **sealer** (a large file of new numbers): a child process seals each chunk while this process parses the next
  (contacts/sealer.py): the stream is bound by this process's GIL, and sealing cost as much CPU as parsing.
- **here**: in this process (small files, SQLite, a sealer that did not start or died).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from typing import Any

from contacts import crypto

# The first chunk's addresses looked up to choose the held way (one indexed query), and the share of them that must
# be stored with a number.
CHOOSE_SAMPLE = 1000
HELD_MIN_SHARE = 1 / 3
# A file (or, without its size, a first chunk) at least this large starts the sealer process with its first chunk:
# a small file never starts one (starting it costs ~0.1 s of CPU). The stream's first chunk is small
# (pipeline.FIRST_CHUNK_ROWS), so the sealer starts while the second is parsed.
SEALER_MIN_BYTES = 1 << 20
SEALER_MIN_ROWS = 10_000

Seals = tuple[Sequence[str | None], Sequence[str | None]]  # each row's blind index and token (None or "": none)


def seal_here(rows: Sequence[Sequence[Any]]) -> Seals:
    """Each contact row's blind index and token, computed in this process (None where the row has no number)."""
    encrypt = crypto.fernet().encrypt
    digest = crypto.mobile_hasher()
    hashes = [digest(r[4]) if r[4] else None for r in rows]
    tokens = [encrypt(r[4].encode()).decode() if r[4] else None for r in rows]
    return hashes, tokens


def blind_only(rows: Sequence[Sequence[Any]]) -> Seals:
    digest = crypto.mobile_hasher()
    return [digest(r[4]) if r[4] else None for r in rows], [None] * len(rows)


class HeldNumbers:
    """The plain numbers of rows staged without a token, kept in this process (never written anywhere) until the
    merge says which of them need one. Compact: per chunk an array of line numbers and the numbers as one string
    (1M rows: ~25 MB), or a tuple where a number holds a newline."""

    def __init__(self) -> None:
        self._chunks: list[tuple[array[int], str | tuple[str, ...]]] = []

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        numbered = [r for r in rows if r[4]]
        if not numbered:
            return
        numbers = [r[4] for r in numbered]
        joined = "\n".join(numbers)
        kept = joined if joined.count("\n") == len(numbers) - 1 else tuple(numbers)
        self._chunks.append((array("q", [r[0] for r in numbered]), kept))

    def numbers(self, lines: Sequence[int]) -> list[tuple[int, str]]:
        """(line, number) for each of `lines` (sorted) that holds one, in line order."""
        found: list[tuple[int, str]] = []
        for held_lines, kept in self._chunks:
            start = bisect.bisect_left(lines, held_lines[0])
            stop = bisect.bisect_right(lines, held_lines[-1])
            if start == stop:
                continue
            numbers = kept.split("\n") if isinstance(kept, str) else kept
            for line in lines[start:stop]:
                i = bisect.bisect_left(held_lines, line)
                if i < len(held_lines) and held_lines[i] == line:
                    found.append((line, numbers[i]))
        return found

    def seal(self, lines: Sequence[int]) -> list[tuple[int, str]]:
        """(line, token) for each of `lines` (sorted) that holds a number."""
        encrypt = crypto.fernet().encrypt
        return [(line, encrypt(number.encode()).decode()) for line, number in self.numbers(lines)]
