"""The open pixel (`GET /t/o/<token>`) and the click redirect (`GET|HEAD /t/c/<token>`).

One function answers both, for the Django views (runserver, the test client) and for `TrackingFastPath`, the WSGI
wrapper `config/wsgi.py` puts in front of Django: these two URLs are requested once per email opened and per link
clicked, thousands a second after a big send, and they need none of Django's middleware (no session, no user, no
CSRF, no template), so gunicorn answers them without entering Django's request cycle (docs/benchmarks.md,
"Tracking"). The answer waits on neither the database nor Redis: the hit is appended to the process's spool file,
which a thread ships to the Redis buffer (services/tracking.py, services/tracking_spool.py).

A token that does not verify is answered 400, with no redirect and nothing recorded: the redirect only ever sends
a reader to a URL Herald itself signed into the email (no open redirect).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from delivery.models import TrackingEvent
from delivery.services.tracking import hit_new, tracking_buffer_mode, tracking_hit_record, tracking_hit_spool
from delivery.services.tracking_spool import shipper_start
from delivery.tokens import click_token_read, open_token_read

logger = logging.getLogger("delivery.tracking")

# The smallest transparent GIF (1x1, 43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = [
    ("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0, private"),
    ("Pragma", "no-cache"),
    ("Expires", "0"),
]
Answer = tuple[int, list[tuple[str, str]], bytes]
_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 405: "Method Not Allowed"}


@lru_cache(maxsize=4096)  # the same readers and proxies again and again: parse each address once
def _address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(meta: dict[str, Any]) -> str | None:
    """As accounts.security.client_ip, from a WSGI environ: X-Forwarded-For only behind HERALD_TRUSTED_PROXIES."""
    proxies = int(settings.HERALD_TRUSTED_PROXIES)
    if proxies > 0:
        forwarded = [p for p in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if p.strip()]
        if len(forwarded) >= proxies:
            found = _address(forwarded[-proxies])
            if found is not None:
                return found
    return _address(meta.get("REMOTE_ADDR"))


def _bad(message: str) -> Answer:
    return 400, [("Content-Type", "text/plain; charset=utf-8"), *NO_CACHE], message.encode()


def tracking_answer(
    *, kind: str, token: str, method: str, user_agent: str, ip: str | None, record: Callable[[Any], None] | None = None
) -> Answer:
    """Status, headers and body for one request to the pixel ("o") or the redirect ("c"); the hit, if any, goes to
    `record` (by default recorded at once: spooled, buffered or stored)."""
    record = record or _record
    method = method.upper()
    if method not in ("GET", "HEAD"):
        return 405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain; charset=utf-8")], b"Method not allowed."
    if kind == "o":
        opened = open_token_read(token)
        if opened is None:
            return _bad("This tracking link is not valid.")
        hit = hit_new(
            kind=TrackingEvent.Kind.OPEN,
            source=TrackingEvent.Source.PIXEL,
            delivery_id=opened.delivery_id,
            send_id=opened.send_id,
            method=method,
            user_agent=user_agent[:500],
            ip=ip,
        )
        record(hit)
        return 200, [("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL_GIF))), *NO_CACHE], PIXEL_GIF
    clicked = click_token_read(token)
    if clicked is None:
        return _bad("This link is not valid: it was changed or cut. Nothing was opened.")
    hit = hit_new(
        kind=TrackingEvent.Kind.CLICK,
        source=TrackingEvent.Source.REDIRECT,
        delivery_id=clicked.delivery_id,
        send_id=clicked.send_id,
        method=method,
        user_agent=user_agent[:500],
        ip=ip,
        url=clicked.url,
        link_index=clicked.link_index,
        link_count=clicked.link_count,
    )
    record(hit)
    # No Referer to the destination: the tracking URL is the reader's.
    return 302, [("Location", clicked.url), ("Referrer-Policy", "no-referrer"), *NO_CACHE], b""


class _Flag(threading.local):
    flag = False


_stored_directly = _Flag()


def _record(hit: Any, *, spool: bool = True) -> None:
    """Never fail the reader's request: a hit that cannot be stored anywhere (Redis AND the database down) is
    logged as an error with its content, so it is not lost silently."""
    try:
        if tracking_hit_record(hit=hit, spool=spool) == "stored":
            _stored_directly.flag = True
    except Exception:
        logger.exception("tracking hit NOT stored (buffer and database unavailable): %s", hit.dumps())


def _close_if_stored_directly() -> None:
    """A hit went to the database outside Django's request cycle: close the connection the way the cycle would
    (CONN_MAX_AGE), so a restarted database does not leave a broken one behind."""
    if _stored_directly.flag:
        _stored_directly.flag = False
        close_old_connections()


def _record_off_the_loop(hit: Any) -> None:
    """On a thread (ASGI): the spool failed or there is no Redis (the embedded default); store it the slow way."""
    _record(hit, spool=False)
    _close_if_stored_directly()


def _tracking_path(path: str) -> bool:
    return path.startswith(("/t/o/", "/t/c/")) and len(path) > 5 and "/" not in path[5:]


def _with_length(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    if any(name == "Content-Length" for name, _ in headers):
        return headers
    return [*headers, ("Content-Length", str(len(body)))]


def _shipper_start_if_spooling() -> None:
    """At the wrapper's start rather than at the first hit: spool files a killed worker left are shipped on restart."""
    if settings.TRACKING_SPOOL_SHIPPER and tracking_buffer_mode() == "redis":
        shipper_start()


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class TrackingFastPath:
    """WSGI wrapper (`config/wsgi.py`): `/t/o/<token>` and `/t/c/<token>` answered here, everything else by Django."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        _shipper_start_if_spooling()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not _tracking_path(path):
            return self.app(environ, start_response)
        method = str(environ.get("REQUEST_METHOD", "GET"))
        status, headers, body = tracking_answer(
            kind=path[3],
            token=path[5:],
            method=method,
            user_agent=str(environ.get("HTTP_USER_AGENT", "")),
            ip=client_ip(environ),
        )
        start_response(f"{status} {_REASONS[status]}", _with_length(headers, body))
        _close_if_stored_directly()
        return [] if method.upper() == "HEAD" else [body]


class TrackingFastPathASGI:
    """ASGI wrapper (`config/asgi.py`, gunicorn's `asgi` worker as the README runs it): the pixel and the redirect
    are answered on the event loop itself (a spooled hit needs no thread and no lock), everything else by `app`."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        _shipper_start_if_spooling()

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not _tracking_path(path):
            await self.app(scope, receive, send)
            return
        user_agent, forwarded = "", []
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                user_agent = value.decode("latin1")
            elif name == b"x-forwarded-for":
                forwarded.append(value.decode("latin1"))
        meta = {"REMOTE_ADDR": (scope.get("client") or ("",))[0], "HTTP_X_FORWARDED_FOR": ",".join(forwarded)}
        method = str(scope.get("method", "GET"))
        hits: list[Any] = []
        status, headers, body = tracking_answer(
            kind=path[3], token=path[5:], method=method, user_agent=user_agent, ip=client_ip(meta), record=hits.append
        )
        for hit in hits:
            if not tracking_hit_spool(hit=hit):
                await asyncio.to_thread(_record_off_the_loop, hit)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in _with_length(headers, body)],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method.upper() == "HEAD" else body})
