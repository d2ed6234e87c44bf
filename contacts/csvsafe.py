"""Every CSV Herald writes for people to open goes through here: cells a spreadsheet would run as a formula are
defused (OWASP "CSV injection").

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice and Google
Sheets (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3+cmd|' /C calc'!A0`); a leading single quote makes it text, which the
spreadsheet shows without the quote. A plain number such as `-12.5` stays as it is: it cannot call anything.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?[0-9][0-9,.]*")


def csv_safe(value: Any) -> Any:
    """The cell as a spreadsheet should show it: text that would run as a formula gets a leading `'`."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


class SafeWriter:
    """`csv.writer` whose every cell goes through `csv_safe`."""

    def __init__(self, out: IO[str], **fmtparams: Any) -> None:
        self._writer = csv.writer(out, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_safe(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(out: IO[str], **fmtparams: Any) -> SafeWriter:
    return SafeWriter(out, **fmtparams)
