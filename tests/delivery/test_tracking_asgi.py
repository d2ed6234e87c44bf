"""The pixel and the redirect on the event loop of the web process as the README runs it (`config/asgi.py`,
gunicorn's `asgi` worker): `TrackingFastPathASGI` answers them without a thread, everything else goes on."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from delivery.models import Delivery, TrackingEvent
from delivery.services import tracking, tracking_spool
from delivery.tokens import click_token_make, open_token_make
from delivery.tracking_endpoint import PIXEL_GIF, TrackingFastPathASGI
from tests.delivery.helpers import make_contacts, started_send

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
OFFER = "https://example.com/offer?a=1&b=2"


def _run_loop(coroutine: Any) -> None:
    """On a thread of its own: the browser tests' Playwright keeps an event loop running on the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(autouse=True)
def _empty_buffer(tmp_path: Any, settings: Any) -> Iterator[None]:
    settings.TRACKING_SPOOL_DIR = tmp_path / "spool"
    client = redis.Redis.from_url(settings.REDIS_URL)
    tracking_spool.spool_drain(sink=lambda lines: None)
    client.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)
    yield
    tracking_spool.spool_drain(sink=lambda lines: None)
    client.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)


@pytest.fixture
def delivery(db: None) -> Delivery:
    send = started_send(make_contacts(1))
    sent_at = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    Delivery.objects.filter(send=send).update(status=Delivery.Status.SENT, sent_at=sent_at)
    return Delivery.objects.get(send=send)


def _reached_django(scope: Any, receive: Any, send: Any) -> Any:
    raise AssertionError(f"{scope['path']} reached Django")


def _call(
    app: Any, path: str, *, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers if headers is not None else [(b"user-agent", CHROME.encode())],
        "client": ("203.0.113.9", 51000),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    _run_loop(app(scope, receive, send))
    return sent


def _head(sent: list[dict[str, Any]]) -> tuple[int, dict[bytes, bytes], bytes]:
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def _pixel(d: Delivery) -> str:
    return f"/t/o/{open_token_make(delivery_id=d.pk, send_id=d.send_id)}"


def _click(d: Delivery, url: str = OFFER) -> str:
    return f"/t/c/{click_token_make(delivery_id=d.pk, send_id=d.send_id, link_index=0, link_count=1, url=url)}"


def _flush() -> int:
    tracking_spool.spool_ship()
    return tracking.tracking_buffer_flush()


def test_the_pixel_is_answered_on_the_event_loop_and_its_hit_spooled(delivery: Delivery) -> None:
    status, headers, body = _head(_call(TrackingFastPathASGI(_reached_django), _pixel(delivery)))

    assert (status, headers[b"content-type"], body) == (200, b"image/gif", PIXEL_GIF)
    assert b"no-store" in headers[b"cache-control"]
    assert tracking_spool.spool_backlog().unshipped_bytes > 0
    assert _flush() == 1
    event = TrackingEvent.objects.get()
    assert (event.kind, event.delivery_id, event.ip) == ("open", delivery.pk, "203.0.113.9")


def test_the_redirect_answers_302_to_the_signed_url(delivery: Delivery) -> None:
    status, headers, body = _head(_call(TrackingFastPathASGI(_reached_django), _click(delivery)))
    _flush()

    assert (status, headers[b"location"], body) == (302, OFFER.encode(), b"")
    assert headers[b"referrer-policy"] == b"no-referrer"
    assert TrackingEvent.objects.get().kind == "click"


def test_a_tampered_click_token_is_400_with_no_redirect_and_nothing_recorded(delivery: Delivery) -> None:
    url = _click(delivery)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")

    status, headers, _ = _head(_call(TrackingFastPathASGI(_reached_django), tampered))

    assert status == 400 and b"location" not in headers
    assert _flush() == 0
    assert not TrackingEvent.objects.exists()


def test_a_head_request_gets_the_redirect_without_a_body_and_is_kept_as_head(delivery: Delivery) -> None:
    status, headers, body = _head(_call(TrackingFastPathASGI(_reached_django), _click(delivery), method="HEAD"))
    _flush()

    assert (status, body, headers[b"content-length"]) == (302, b"", b"0")
    assert TrackingEvent.objects.get().method == "HEAD"


def test_behind_a_trusted_proxy_the_reader_address_comes_from_x_forwarded_for(
    delivery: Delivery, settings: Any
) -> None:
    settings.HERALD_TRUSTED_PROXIES = 1
    headers = [(b"user-agent", CHROME.encode()), (b"x-forwarded-for", b"198.51.100.7")]

    _call(TrackingFastPathASGI(_reached_django), _pixel(delivery), headers=headers)
    _flush()

    assert TrackingEvent.objects.get().ip == "198.51.100.7"


def test_every_other_path_goes_to_the_wrapped_application() -> None:
    async def django(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    app = TrackingFastPathASGI(django)

    assert _head(_call(app, "/campaigns/"))[2] == b"/campaigns/"
    assert _head(_call(app, "/t/o/a/b"))[2] == b"/t/o/a/b"


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_hit_is_stored_off_the_event_loop(delivery: Delivery, settings: Any) -> None:
    settings.TRACKING_BUFFER = "direct"

    status, _, _ = _head(_call(TrackingFastPathASGI(_reached_django), _pixel(delivery)))

    assert status == 200
    assert TrackingEvent.objects.get().delivery_id == delivery.pk
    assert tracking_spool.spool_backlog().unshipped_bytes == 0
