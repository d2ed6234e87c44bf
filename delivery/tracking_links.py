"""Open pixel and click redirects, added to each rendered email (docs/tracking.md).

It runs on the rendered output, after the fast or the template renderer, so both paths get the very same links
(the render parity holds by construction) and a link built from a variable (`{{ attributes.offer_url }}`) is
tracked like a literal one. Every http(s) link of the HTML part (`<a href>`) and the text part (bare URLs) becomes
`<HERALD_BASE_URL>/t/c/<token>`; the unsubscribe and view-in-browser links stay as they are (they must work
without a redirect, and a scanner must not "click" them into the report). The same URL in both parts gets the
same position, so "every link of the message" counts distinct destinations.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

from django.conf import settings

from delivery.tokens import click_token_make, open_token_make

# An <a ...href="..."> attribute (double or single quoted). Matching on the attribute, not parsing the document:
# rendering 10k emails a second leaves no budget for an HTML parser, and an href is what a mail client follows.
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE)
# Bare URLs of the text part; trailing punctuation of a sentence is not part of the link.
_TEXT_URL = re.compile(r"""https?://[^\s<>"']+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"


@dataclass(frozen=True)
class TrackingPrefixes:
    """The absolute endpoint URLs and the links never rewritten, resolved once per page."""

    open_prefix: str
    click_prefix: str
    exempt: tuple[str, ...]

    @classmethod
    def build(cls, *, exempt: tuple[str, ...]) -> TrackingPrefixes:
        base = settings.HERALD_BASE_URL
        return cls(open_prefix=f"{base}/t/o/", click_prefix=f"{base}/t/c/", exempt=exempt)


def _text_urls(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in _TEXT_URL.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        found.append((m.start(), m.start() + len(url), url))
    return found


def track_email(
    *,
    html: str,
    text: str,
    delivery_id: int,
    send_id: int,
    opens: bool,
    clicks: bool,
    prefixes: TrackingPrefixes,
) -> tuple[str, str]:
    """The email's HTML and text parts with tracked links and, in the HTML, the open pixel."""
    if clicks:
        html, text = _rewrite_links(html, text, delivery_id, send_id, prefixes)
    if opens and html:
        token = open_token_make(delivery_id=delivery_id, send_id=send_id)
        pixel = (
            f'<img src="{prefixes.open_prefix}{token}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
        )
        at = max(html.rfind("</body>"), html.rfind("</BODY>"))
        html = html + pixel if at < 0 else html[:at] + pixel + html[at:]
    return html, text


def _rewrite_links(html: str, text: str, delivery_id: int, send_id: int, p: TrackingPrefixes) -> tuple[str, str]:
    html_links = [(m, html_lib.unescape(m.group(3))) for m in _HREF.finditer(html)] if html else []
    text_links = _text_urls(text) if text else []
    order: dict[str, int] = {}
    for url in [u for _, u in html_links] + [u for _, _, u in text_links]:
        if url not in order and not url.startswith(p.exempt):
            order[url] = len(order)
    if not order:
        return html, text
    count = len(order)
    tracked = {
        url: p.click_prefix
        + click_token_make(delivery_id=delivery_id, send_id=send_id, link_index=i, link_count=count, url=url)
        for url, i in order.items()
    }
    if html_links:
        parts, last = [], 0
        for m, url in html_links:
            if url in tracked:
                parts += [html[last : m.start(3)], tracked[url]]
                last = m.end(3)
        html = "".join(parts) + html[last:]
    if text_links:
        parts, last = [], 0
        for start, end, url in text_links:
            if url in tracked:
                parts += [text[last:start], tracked[url]]
                last = end
        text = "".join(parts) + text[last:]
    return html, text
