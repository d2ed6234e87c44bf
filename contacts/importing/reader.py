"""Open an uploaded CSV the way real files arrive: any usual encoding and delimiter, streamed row by row."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings

BLOCK = 1 << 20
SNIFF_CHARS = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
# One quoted field may span lines, but a stray quote must not swallow the whole file into one value.
csv.field_size_limit(1 << 20)


class FileUnreadable(Exception):
    """The file as a whole cannot be imported (empty, binary, no email column): one message, nothing imported."""


@dataclass(frozen=True)
class FileFormat:
    encoding: str
    delimiter: str

    def describe(self) -> str:
        name = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[self.delimiter]
        return f"{self.encoding}, {name}-separated"


def _decodes(f: BinaryIO, encoding: str) -> bool:
    """True if the whole file decodes; a full pass is cheap (C speed) and avoids a late failure mid-import."""
    f.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while block := f.read(BLOCK):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(f: BinaryIO) -> str:
    f.seek(0)
    head = f.read(4096)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise FileUnreadable("The file is empty.")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        utf16 = _utf16_without_bom(head)
        if utf16 and _decodes(f, utf16):
            return utf16
        raise FileUnreadable(_binary_message(head))
    if _decodes(f, "utf-8"):
        return "utf-8"
    # Excel on Windows writes CP1252; the five bytes CP1252 leaves undefined only decode as Latin-1.
    return "cp1252" if _decodes(f, "cp1252") else "latin-1"


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text with no byte-order mark: mostly-ASCII text has a NUL in every other byte, at odd offsets
    (little-endian, what Windows writes) or even ones (big-endian); binary files have NULs on both sides."""
    even, odd = head[0:4096:2], head[1:4096:2]
    pairs = min(len(even), len(odd))
    if pairs < 2:
        return None
    even_nuls, odd_nuls = even.count(0), odd.count(0)
    if odd_nuls >= pairs * 0.4 and even_nuls <= pairs * 0.02:
        return "utf-16-le"
    if even_nuls >= pairs * 0.4 and odd_nuls <= pairs * 0.02:
        return "utf-16-be"
    return None


# What people upload by mistake instead of a CSV, by the bytes files of that kind start with.
KNOWN_BINARY = (
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook (.xlsx); save the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls); save the sheet as CSV"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
)


def _binary_message(head: bytes) -> str:
    for magic, what in KNOWN_BINARY:
        if head.startswith(magic):
            return f"This is not a CSV file: it is {what}."
    return "This is not a CSV file (it contains binary data, and it is not UTF-16 text)."


def sniff_delimiter(sample: str) -> str:
    """The delimiter is whichever candidate occurs most often in the header line outside quotes."""
    outside: list[str] = []
    in_quotes = False
    for ch in sample:
        if ch == '"':
            in_quotes = not in_quotes
        elif in_quotes:
            continue
        elif ch in "\r\n":
            if outside:
                break
        else:
            outside.append(ch)
    line = "".join(outside)
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def detect_format(f: BinaryIO) -> FileFormat:
    encoding = detect_encoding(f)
    f.seek(0)
    sample = f.read(SNIFF_CHARS * 2).decode(encoding, errors="ignore")[:SNIFF_CHARS]
    if "\x00" in sample:
        raise FileUnreadable("This is not a CSV file (it contains binary data).")
    return FileFormat(encoding=encoding, delimiter=sniff_delimiter(sample))


class _Lines:
    """The text's lines for `csv.reader`, refusing a record longer than `limit` bytes before it is held whole.

    `readline(n)` never reads past n characters, so a one-line 400 MB file costs `limit`, not 400 MB; the count
    runs from the start of the current record (`record_done`), so a quoted field spanning lines is bounded too.
    """

    def __init__(self, text: io.TextIOWrapper, encoding: str, limit: int) -> None:
        self.text, self.encoding, self.limit = text, encoding, limit
        # Every encoding read here spends at least one byte per character (UTF-16: two): a record of at most
        # `limit // 4` characters is within the limit and is never encoded to be measured.
        self.safe_chars = limit // 4
        self.record_chars = 0
        self.record_bytes = 0
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        readline, limit = self.text.readline, self.limit
        while line := readline(limit + 1):
            self.line += 1
            self.record_chars += len(line)
            if self.record_chars > self.safe_chars:
                self.record_bytes += len(line.encode(self.encoding, errors="replace"))
                if self.record_bytes > limit:
                    raise FileUnreadable(
                        f"Line {self.line} is longer than {limit:,} bytes (IMPORT_MAX_LINE_BYTES): this is not a "
                        "contact list, or a quote is never closed."
                    )
            yield line

    def record_done(self) -> None:
        self.record_chars = self.record_bytes = 0


def iter_rows(f: BinaryIO, fmt: FileFormat) -> Iterator[tuple[int, list[str]]]:
    """(first line number of the record, fields). Blank lines are dropped; quoted newlines stay in their field.

    Bounded input (ARCHITECTURE §7): a record longer than IMPORT_MAX_LINE_BYTES or wider than IMPORT_MAX_COLUMNS
    makes the whole file unreadable, before any per-column work, so memory follows the rows and not the width."""
    max_columns: int = settings.IMPORT_MAX_COLUMNS
    f.seek(0)
    text = io.TextIOWrapper(f, encoding=fmt.encoding, newline="")
    lines = _Lines(text, fmt.encoding, settings.IMPORT_MAX_LINE_BYTES)
    try:
        reader = csv.reader(lines, delimiter=fmt.delimiter)
        previous_end = 0
        try:
            for row in reader:
                lines.record_done()
                start, previous_end = previous_end + 1, reader.line_num
                if len(row) > max_columns:
                    raise FileUnreadable(
                        f"Line {start} has {len(row):,} columns; at most {max_columns:,} are read "
                        "(IMPORT_MAX_COLUMNS). Remove the columns you do not need, or check the delimiter."
                    )
                if row and any(row):
                    yield start, row
        except csv.Error as exc:
            raise FileUnreadable(f"Line {reader.line_num}: the file is not valid CSV ({exc}).") from exc
    finally:
        # The caller may close the file before it drops this generator; then there is nothing to detach.
        with contextlib.suppress(ValueError):
            text.detach()
