"""Where in the user's MJML an mjml-python error is: mjml-python names no line, so the source is scanned."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_POSITION = re.compile(r"position (\d+)(?::(\d+))?")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _line_of_offset(source: str, offset: int) -> int:
    data = source.encode()
    return data[: max(0, min(offset, len(data)))].count(b"\n") + 1


class _TagBalance(HTMLParser):
    """Finds the first tag that is closed without being opened, closed out of order, or never closed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, int]] = []
        self.problem: tuple[int, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return

    def handle_endtag(self, tag: str) -> None:
        if self.problem or tag in _VOID:
            return
        line = self.getpos()[0]
        if not self.stack:
            self.problem = (line, f"</{tag}> closes a tag that was never opened.")
            return
        open_tag, open_line = self.stack[-1]
        if open_tag == tag:
            self.stack.pop()
            return
        if any(t == tag for t, _ in self.stack):
            self.problem = (open_line, f"<{open_tag}> opened on line {open_line} is not closed before </{tag}>.")
        else:
            self.problem = (line, f"</{tag}> does not match the open <{open_tag}> (line {open_line}).")


def locate_mjml_error(source: str, message: str) -> tuple[int | None, str]:
    """The line mjml-python's error is about (as near as it can be found) and a hint for the user."""
    scanner = _TagBalance()
    try:
        scanner.feed(source)
        scanner.close()
    except Exception:  # the scanner only helps locate the error; its own failure must not mask it
        scanner.problem = scanner.problem or None
    if scanner.problem:
        return scanner.problem
    if scanner.stack:
        tag, line = scanner.stack[-1]
        return line, f"<{tag}> opened on line {line} is never closed."
    match = _POSITION.search(message)
    if match:
        return _line_of_offset(source, int(match.group(1))), ""
    stripped = source.lstrip()
    if not stripped.startswith("<mjml"):
        return 1, "An MJML document starts with <mjml>."
    return None, ""
