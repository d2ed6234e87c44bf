"""Streamed CSV downloads: one formatted line at a time, every cell through `csvsafe.csv_safe`."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from contacts.csvsafe import csv_safe


class _Echo:
    """A file-like whose write returns what it was given: csv.writer formats one line and we yield it."""

    def write(self, value: str) -> str:
        return value


def stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(["" if value is None else csv_safe(value) for value in row])
