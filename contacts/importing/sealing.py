"""How an import seals its mobile numbers (blind index + token, contacts/tokens.py) before staging them: no
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
import logging
from array import array
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from contacts import crypto
from contacts.sealer import Sealer, SealerGone

logger = logging.getLogger(__name__)

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
    digest = crypto.mobile_hasher()
    hashes = [digest(r[4]) if r[4] else None for r in rows]
    tokens = [token or None for token in crypto.encrypt_many([r[4] or "" for r in rows])]
    return hashes, tokens


def blind_only(rows: Sequence[Sequence[Any]]) -> Seals:
    digest = crypto.mobile_hasher()
    return [digest(r[4]) if r[4] else None for r in rows], [None] * len(rows)


class HeldNumbers:
    """The plain numbers of rows staged without a token, kept in this process (never written anywhere) until the
    merge says which of them need one. Compact: per chunk an array of line numbers and the numbers as one string
    (1M rows: ~22 MB), or a tuple where a number holds a newline."""

    def __init__(self) -> None:
        self._chunks: list[tuple[array[int], str | tuple[str, ...]]] = []

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        # Every row's line and number ("" for none): one comprehension, one join and a C-level pass for the lines.
        # This runs on every row of a re-import, inside the GIL-bound stream.
        numbers = [r[4] or "" for r in rows]
        if not rows or not any(numbers):
            return
        joined = "\n".join(numbers)
        kept = joined if joined.count("\n") == len(numbers) - 1 else tuple(numbers)
        self._chunks.append((array("q", map(itemgetter(0), rows)), kept))

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
                if i < len(held_lines) and held_lines[i] == line and numbers[i]:
                    found.append((line, numbers[i]))
        return found

    def seal(self, lines: Sequence[int]) -> list[tuple[int, str]]:
        """(line, token) for each of `lines` (sorted) that holds a number."""
        found = self.numbers(lines)
        tokens = crypto.encrypt_many([number for _, number in found])
        return [(line, token) for (line, _), token in zip(found, tokens, strict=True)]


class StreamSealing:
    """The sealing of one contacts stream (`staging._BackgroundCopy`): the first chunk's choice, then the sealer
    process's requests, sent by the caller's thread as each chunk is parsed, and its answers, taken by the COPY
    thread in the same order. A sealer that does not start or dies leaves what it has not answered to the caller
    (`answer` returns None: the chunk is sealed in process)."""

    def __init__(self, key: str, size_hint: int, stored_with_number: Callable[[list[str]], int]) -> None:
        self.key = key  # the import's staging key, for the log
        self.size_hint = size_hint
        self.stored_with_number = stored_with_number
        self.chosen = False
        self.tokens = True  # False when the stream's numbers are held: the sealer computes blind indexes only
        self.sealer: Sealer | None = None

    def choose(self, rows: Sequence[Sequence[Any]]) -> HeldNumbers | None:
        """Held numbers when a third or more of the first chunk's sampled addresses are stored with a number (a
        re-import); the sealer process for a large file or chunk (blind indexes only when held)."""
        self.chosen = True
        sample = [r[1] for r in rows if r[4]][:CHOOSE_SAMPLE]
        if not sample:
            return None
        held = HeldNumbers() if self.stored_with_number(sample) >= len(sample) * HELD_MIN_SHARE else None
        self.tokens = held is None
        if self.size_hint >= SEALER_MIN_BYTES or len(rows) >= SEALER_MIN_ROWS:
            try:
                self.sealer = Sealer(*crypto.sealing_keys())
            except OSError:
                logger.warning("import %s: the sealer process did not start; sealing here", self.key)
        return held

    def ahead(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Send the chunk's numbers to the sealer, if one runs; whether they went."""
        sealer = self.sealer
        if sealer is None:
            return False
        try:
            return sealer.send([r[4] or "" for r in rows], tokens=self.tokens)
        except SealerGone:
            logger.warning("import %s: the sealer process is gone; sealing here", self.key, exc_info=True)
            self.stop()
            return False

    def answer(self) -> Seals | None:
        """The sealer's answer for the oldest chunk sent, or None if it failed meanwhile."""
        sealer = self.sealer
        if sealer is None:
            return None
        try:
            return sealer.receive()
        except (SealerGone, ValueError):
            logger.warning("import %s: the sealer process failed; sealing here", self.key, exc_info=True)
            self.stop()
            return None

    def stop(self) -> None:
        """Kill the sealer (a failure): a thread blocked on its pipes is released."""
        sealer, self.sealer = self.sealer, None
        if sealer is not None:
            sealer.stop()

    def close(self) -> None:
        """The stream ended: the sealer ends at the end of its input."""
        sealer, self.sealer = self.sealer, None
        if sealer is not None:
            sealer.close()
