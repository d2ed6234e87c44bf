"""The Outbox's copy of an email as staff read it: without the open pixel, each click redirect replaced by the
URL it leads to, so reading a sent email's copy records no open or click for its recipient (issue 17).

In the embedded default (`make run`, OUTBOX_AS_INBOX on) the Outbox stands in for the recipients' inboxes and
shows the email as sent, pixel and redirects included, to show tracking at work; anyone can still see an email
as sent with the Outbox page's "as the recipient" view, which says that it counts.
"""

from __future__ import annotations

import html as html_lib
import re
from functools import cache

from django.conf import settings
from django.urls import reverse

from delivery.tokens import click_token_read


@cache
def _patterns(base_url: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    opens = reverse("delivery:track-open", args=["T"]).rsplit("T", 1)[0]
    clicks = reverse("delivery:track-click", args=["T"]).rsplit("T", 1)[0]
    # The pixel as delivery.tracking_links writes it (an <img> whose src is the open URL), and a click URL up to
    # the first character a token never holds (tokens are URL-safe base64 and dots).
    pixel = re.compile(rf"<img\b[^>]*\bsrc=[\"']{re.escape(base_url + opens)}[^\"']*[\"'][^>]*>", re.IGNORECASE)
    click = re.compile(rf"{re.escape(base_url + clicks)}([A-Za-z0-9_\-.]+)")
    return pixel, click


def _original(token: str) -> str | None:
    clicked = click_token_read(token)
    return clicked.url if clicked is not None else None


def staff_copy(*, html: str, text: str) -> tuple[str, str]:
    """`html` without the pixel and both parts with every click redirect replaced by its destination (a link
    whose token does not verify any more, after a SECRET_KEY change, becomes about:blank)."""
    pixel, click = _patterns(settings.HERALD_BASE_URL)

    def in_html(found: re.Match[str]) -> str:
        url = _original(found.group(1))
        return html_lib.escape(url, quote=True) if url else "about:blank"

    def in_text(found: re.Match[str]) -> str:
        return _original(found.group(1)) or "[link]"

    return click.sub(in_html, pixel.sub("", html or "")), click.sub(in_text, text or "")
