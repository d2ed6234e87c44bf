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
from dataclasses import dataclass, field

from django.conf import settings

from delivery.tokens import link_token_make, open_token_make

# An href attribute with a web URL (double or single quoted), kept only inside an <a> tag (not a <link> stylesheet
# or a <base>). A regex on the attribute, not an HTML parser: this runs for every email of every send. It starts
# with the literal `href` (re then scans with a fast substring search: 6x faster than `\bhref` with IGNORECASE);
# content with a mixed-case HREF takes the slower any-case pattern.
_HREF = re.compile(r"""href\s*=\s*(["'])(https?://[^"'<>\s]+)\1""")
_HREF_ANY_CASE = re.compile(r"""[hH][rR][eE][fF]\s*=\s*(["'])(https?://[^"'<>\s]+)\1""")
# Bare URLs of the text part; trailing punctuation of a sentence is not part of the link.
_TEXT_URL = re.compile(r"""https?://[^\s<>"']+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
# The URL travels base64-encoded inside the redirect's path; past this length the request line would pass
# gunicorn's 4,094-byte limit (and some proxies' 4 KB), so a longer link is left as it is, untracked.
MAX_TRACKED_URL = 2000


@dataclass(frozen=True)
class TrackingPrefixes:
    """The absolute endpoint URLs and the links never rewritten, resolved once per page; `links` caches the
    signed link parts of the page (most links are the same for every recipient: one HMAC per page, not per email)."""

    open_prefix: str
    click_prefix: str
    exempt: tuple[str, ...]
    links: dict[tuple[int, int, int, str], str] = field(default_factory=dict)

    @classmethod
    def build(cls, *, exempt: tuple[str, ...]) -> TrackingPrefixes:
        base = settings.HERALD_BASE_URL
        return cls(open_prefix=f"{base}/t/o/", click_prefix=f"{base}/t/c/", exempt=exempt)

    def link_part(self, send_id: int, index: int, count: int, url: str) -> str:
        key = (send_id, index, count, url)
        part = self.links.get(key)
        if part is None:
            if len(self.links) > 10_000:  # personalised URLs: bounded
                self.links.clear()
            part = self.links[key] = link_token_make(send_id=send_id, link_index=index, link_count=count, url=url)
        return part


def _anchor_links(html: str) -> list[tuple[int, int, str]]:
    """(start, end, unescaped URL) of every web URL in an anchor's href, in document order."""
    pattern = _HREF_ANY_CASE if ("HREF" in html or "Href" in html or "hREF" in html) else _HREF
    return [
        (m.start(2), m.end(2), _unescape(m.group(2))) for m in pattern.finditer(html) if _in_anchor(html, m.start())
    ]


def _in_anchor(html: str, at: int) -> bool:
    lt = html.rfind("<", 0, at)
    return lt >= 0 and html[lt + 1 : lt + 2] in ("a", "A") and html[lt + 2 : lt + 3].isspace()


def _unescape(value: str) -> str:
    if "&" not in value:
        return value
    if value.count("&") == value.count("&amp;"):  # the usual case (query strings): a plain replace is exact
        return value.replace("&amp;", "&")
    return html_lib.unescape(value)


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
    recipient = open_token_make(delivery_id=delivery_id, send_id=send_id)
    if clicks:
        html, text = _rewrite_links(html, text, send_id, recipient, prefixes)
    if opens and html:
        token = recipient
        pixel = (
            f'<img src="{prefixes.open_prefix}{token}" width="1" height="1" alt="" '
            'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0">'
        )
        at = max(html.rfind("</body>"), html.rfind("</BODY>"))
        html = html + pixel if at < 0 else html[:at] + pixel + html[at:]
    return html, text


def _rewrite_links(html: str, text: str, send_id: int, recipient: str, p: TrackingPrefixes) -> tuple[str, str]:
    html_links = _anchor_links(html) if html else []
    text_links = _text_urls(text) if text else []
    order: dict[str, int] = {}
    for url in [u for _, _, u in html_links] + [u for _, _, u in text_links]:
        if url not in order and not url.startswith(p.exempt) and len(url) <= MAX_TRACKED_URL:
            order[url] = len(order)
    if not order:
        return html, text
    count = len(order)
    tracked = {url: f"{p.click_prefix}{p.link_part(send_id, i, count, url)}.{recipient}" for url, i in order.items()}
    if html_links:
        parts, last = [], 0
        for start, end, url in html_links:
            if url in tracked:
                parts += [html[last:start], tracked[url]]
                last = end
        html = "".join(parts) + html[last:]
    if text_links:
        parts, last = [], 0
        for start, end, url in text_links:
            if url in tracked:
                parts += [text[last:start], tracked[url]]
                last = end
        text = "".join(parts) + text[last:]
    return html, text
