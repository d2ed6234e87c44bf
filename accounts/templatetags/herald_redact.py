"""Viewer redaction of an email's live links (the Outbox): a Viewer reads stored emails, but clicking the
unsubscribe link of someone else's email would unsubscribe them, a view link opens a message anyone could share,
and the tracking pixel and click redirects would count an open or a click for the recipient."""

from __future__ import annotations

import re
from functools import cache

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()

HIDDEN = "[link hidden for Viewers]"


@cache
def _live_link_re(base_url: str) -> re.Pattern[str]:
    # The signed-token endpoints (delivery: unsubscribe, view in browser, and the open pixel and click redirects,
    # which record an open or a click for the recipient) under Herald's base URL, which every email's links use
    # (delivery/compose.py).
    names = ("delivery:unsubscribe", "delivery:view", "delivery:track-open", "delivery:track-click")
    prefixes = [reverse(name, args=["T"]).rsplit("T", 1)[0] for name in names]
    paths = "|".join(re.escape(p) for p in prefixes)
    return re.compile(rf"{re.escape(base_url)}(?:{paths})[^\s\"'<>)\]]*")


def _pattern() -> re.Pattern[str]:
    return _live_link_re(settings.HERALD_BASE_URL)


@register.filter
def redact_links(value: object, replacement: str = HIDDEN) -> str:
    """`value` with every unsubscribe / view-in-browser link replaced (use "about:blank" inside HTML attributes)."""
    return _pattern().sub(replacement, str(value or ""))


@register.filter
def is_live_link(href: object) -> bool:
    return bool(_pattern().fullmatch(str(href or "")))
