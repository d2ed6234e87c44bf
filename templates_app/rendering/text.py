"""The plain-text part of an email, derived from its HTML.

The text part is derived from the HTML *source* once, at compile time, with the template tags kept in place, so
per recipient only two small template renders run instead of an HTML parse (the render benchmark depends on it).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_MARK = "\ue000{}\ue001"
_MARK_RE = re.compile("\ue000(\\d+)\ue001")
_BLOCK = {
    "address",
    "article",
    "blockquote",
    "center",
    "div",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "section",
    "table",
    "tr",
    "ul",
}
_SKIP = {"head", "style", "script", "title", "noscript", "template"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table") else "\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag == "td":
            self.parts.append(" ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append((href, len(self.parts)))
        elif tag == "img":
            alt = (dict(attrs).get("alt") or "").strip()
            if alt:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIP:
            self.skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "a" and self.links:
            href, start = self.links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if href and not href.startswith(("#", "mailto:")) and href != label:
                self.parts.append(f" ({href})" if label else href)
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table") else "\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _tidy_text(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + ("\n" if out else "")


def html_to_text(html: str) -> str:
    """A readable plain-text version of an email's HTML: paragraphs, list items and `label (url)` links."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return _tidy_text("".join(parser.parts))


def html_source_to_text_template(html_source: str) -> str:
    """The text version of an HTML *template*, with its `{{ }}` / `{% %}` tags kept where they stood."""
    tags: list[str] = []

    def stash(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return _MARK.format(len(tags) - 1)

    marked = _TAG_RE.sub(stash, html_source)
    text = html_to_text(marked)
    # Entities were decoded by the parser; text output is rendered without autoescape.
    return _MARK_RE.sub(lambda m: tags[int(m.group(1))], text)
