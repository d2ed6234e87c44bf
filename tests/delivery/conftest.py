from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from delivery import events
from tests.broker import purge_broker
from tests.e2e.conftest import (  # noqa: F401 - fixtures
    FakeResendHandle,
    _fake_resend_server,
    fake_resend,
)

__all__ = ["FakeResendHandle"]


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(autouse=True)
def _clean_redis(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """No limiter state or stray page messages leak between tests; no rate limit unless a test sets one."""
    settings.RESEND_RATE_LIMIT = 0
    settings.RESEND_HOURLY_CAP = 0

    purge_broker(settings.REDIS_URL)
    yield
    purge_broker(settings.REDIS_URL)


@pytest.fixture
def queued_messages() -> Iterator[object]:
    """How many task messages wait in the broker's default queue, over all its priority lists.

    kombu keeps one Redis list per priority step: `celery` and `celery\x06\x16<n>` (scheduler.routing sends a
    send's later pages one step down)."""

    def count() -> int:
        client = _redis()
        return sum(int(client.llen(key)) for key in client.scan_iter("celery*") if client.type(key) == b"list")

    yield count


@pytest.fixture
def published() -> Iterator[list[tuple[int, str, str]]]:
    """Every delivery event published during the test."""
    seen: list[tuple[int, str, str]] = []

    def handler(send_id: int, event: str, reason: str) -> None:
        seen.append((send_id, event, reason))

    events.subscribe(handler)  # type: ignore[arg-type]
    yield seen
    events._handlers.remove(handler)  # type: ignore[arg-type]


@pytest.fixture
def resend_transport(settings, fake_resend: FakeResendHandle) -> FakeResendHandle:  # type: ignore[no-untyped-def]  # noqa: F811
    """The `resend` transport (the real SDK) pointed at the local fake server."""
    settings.EMAIL_TRANSPORT = "resend"
    settings.RESEND_API_URL = fake_resend.url
    settings.RESEND_API_KEY = "re_test"
    return fake_resend
