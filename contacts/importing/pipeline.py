"""Stream one file into staging: decode, split, validate each record in Python, write errors to the report.

Memory stays flat whatever the file size: records are read one at a time and staged in chunks; only the first
`INFER_SAMPLE` records are held at once (to infer attribute types) plus one chunk.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from contacts.csvsafe import safe_writer
from contacts.importing.merge import Staging
from contacts.importing.reader import FileUnreadable, detect_format, iter_rows
from contacts.importing.rows import INFER_SAMPLE, ContactPlan, EventPlan, RowError
from contacts.selectors import stored_attribute_types

CHUNK_ROWS = 25_000
# The first chunk is staged early: it chooses how the file's numbers are sealed (contacts/importing/sealing.py), and
# a sealer process then starts while the next chunk is parsed.
FIRST_CHUNK_ROWS = 1_000
REPORT_DATA_CHARS = 500

Progress = Callable[[int, int], None]  # (bytes read, rows read)


class LazyTypes:
    """Attribute types already stored, looked up on first use (names inside a JSON column appear as they come)."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self._found: dict[str, str | None] = dict.fromkeys(names)
        self._found.update(stored_attribute_types(names))

    def get(self, name: str, default: None = None, /) -> str | None:
        if name not in self._found:
            self._found[name] = stored_attribute_types([name]).get(name)
        return self._found[name]


class ErrorReport:
    """The downloadable CSV of rejected rows: line number, reason, and the record as it was (formula cells defused:
    the record is whatever the uploader wrote, and an Admin opens the report in a spreadsheet)."""

    def __init__(self, out: IO[str], delimiter: str = ",") -> None:
        self.writer = safe_writer(out)
        self.writer.writerow(["line", "reason", "data"])
        self.delimiter = delimiter
        self.count = 0

    def add(self, line: int, reason: str, values: Sequence[str] = ()) -> None:
        self.writer.writerow([line, reason, self.delimiter.join(values)[:REPORT_DATA_CHARS]])
        self.count += 1


@dataclass
class Streamed:
    rows_read: int
    types: dict[str, str]
    description: str


def _records(f: BinaryIO) -> tuple[Any, Iterator[tuple[int, list[str]]], list[str]]:
    fmt = detect_format(f)
    records = iter_rows(f, fmt)
    first = next(records, None)
    if first is None:
        raise FileUnreadable("The file is empty.")
    return fmt, records, first[1]


def _size(f: BinaryIO) -> int:
    """The file's size in bytes (0 if it cannot tell), its position kept."""
    try:
        position = f.tell()
        size = f.seek(0, io.SEEK_END)
        f.seek(position)
    except (OSError, ValueError):
        return 0
    return size


def stream_contacts(
    f: BinaryIO, staging: Staging, report_out: IO[str], progress: Progress | None = None
) -> tuple[Streamed, ErrorReport]:
    fmt, records, header = _records(f)
    plan = ContactPlan.from_header(header)
    sample = list(itertools.islice(records, INFER_SAMPLE))
    if not sample:
        raise FileUnreadable("The file has a header but no rows.")
    known = LazyTypes([a.name for a in plan.attributes])
    plan.settle_types({a.name: t for a in plan.attributes if (t := known.get(a.name))}, (v for _, v in sample))
    report = ErrorReport(report_out, fmt.delimiter)
    row = plan.compile(known)
    chunk: list[Any] = []
    read = 0
    limit = FIRST_CHUNK_ROWS
    with staging.streaming(size_hint=_size(f)) as write:
        for line, values in itertools.chain(sample, records):
            read += 1
            try:
                chunk.append(row(line, values))
            except RowError as exc:
                report.add(line, str(exc), values)
            if len(chunk) >= limit:
                write(chunk)
                chunk = []
                limit = CHUNK_ROWS
                if progress:
                    progress(f.tell(), read)
        write(chunk)
    if progress:
        progress(f.tell(), read)
    return Streamed(rows_read=read, types=plan.types(), description=fmt.describe()), report


def stream_events(
    f: BinaryIO, staging: Staging, report_out: IO[str], now: dt.datetime, progress: Progress | None = None
) -> tuple[Streamed, ErrorReport]:
    fmt, records, header = _records(f)
    plan = EventPlan.from_header(header)
    report = ErrorReport(report_out, fmt.delimiter)
    chunk: list[Any] = []
    read = 0
    with staging.streaming() as write:
        for line, values in records:
            read += 1
            try:
                event = plan.row(line, values)
            except RowError as exc:
                report.add(line, str(exc), values)
            else:
                # Without a timestamp the event happened "now": the import's start, the same for every such row.
                chunk.append(event.at(now))
            if len(chunk) >= CHUNK_ROWS:
                write(chunk)
                chunk = []
                if progress:
                    progress(f.tell(), read)
        if not read:
            raise FileUnreadable("The file has a header but no rows.")
        write(chunk)
    if progress:
        progress(f.tell(), read)
    return Streamed(rows_read=read, types={}, description=fmt.describe()), report
