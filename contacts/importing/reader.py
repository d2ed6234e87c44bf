"""Open an uploaded CSV the way real files arrive: any usual encoding and delimiter, streamed row by row."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

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
        raise FileUnreadable("This is not a CSV file (it contains binary data).")
    if _decodes(f, "utf-8"):
        return "utf-8"
    # Excel on Windows writes CP1252; the five bytes CP1252 leaves undefined only decode as Latin-1.
    return "cp1252" if _decodes(f, "cp1252") else "latin-1"


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


def iter_rows(f: BinaryIO, fmt: FileFormat) -> Iterator[tuple[int, list[str]]]:
    """(first line number of the record, fields). Blank lines are dropped; quoted newlines stay in their field."""
    f.seek(0)
    text = io.TextIOWrapper(f, encoding=fmt.encoding, newline="")
    try:
        reader = csv.reader(text, delimiter=fmt.delimiter)
        previous_end = 0
        try:
            for row in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if row and any(row):
                    yield start, row
        except csv.Error as exc:
            raise FileUnreadable(f"Line {reader.line_num}: the file is not valid CSV ({exc}).") from exc
    finally:
        # The caller may close the file before it drops this generator; then there is nothing to detach.
        with contextlib.suppress(ValueError):
            text.detach()
