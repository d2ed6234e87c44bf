from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings

from delivery.ratelimit import HourlyCapReached, LocalLimiter, RedisLimiter


def test_redis_bucket_spaces_requests_evenly_at_the_configured_rate_across_workers(settings) -> None:
    settings.RESEND_RATE_LIMIT = 20
    worker_a, worker_b = RedisLimiter(django_settings.REDIS_URL), RedisLimiter(django_settings.REDIS_URL)

    started = time.monotonic()
    for _ in range(5):
        worker_a.acquire(emails=100)
        worker_b.acquire(emails=100)
    elapsed = time.monotonic() - started

    # Ten requests from two "workers" at 20/s (less the 3 % margin): nine intervals of 1/19.4 s, no burst.
    assert 0.44 <= elapsed < 0.6


def test_redis_bucket_without_a_limit_never_waits(settings) -> None:
    settings.RESEND_RATE_LIMIT = 0

    assert all(RedisLimiter(django_settings.REDIS_URL).reserve(emails=100) == 0 for _ in range(50))


def test_a_429_blocks_every_worker_for_the_retry_after(settings) -> None:
    settings.RESEND_RATE_LIMIT = 0
    worker_a, worker_b = RedisLimiter(django_settings.REDIS_URL), RedisLimiter(django_settings.REDIS_URL)

    worker_a.block(seconds=2)

    assert worker_b.reserve(emails=1) == pytest.approx(2, abs=0.1)


def test_hourly_cap_refuses_once_the_window_is_full(settings) -> None:
    settings.RESEND_RATE_LIMIT = 0
    settings.RESEND_HOURLY_CAP = 250
    limiter = RedisLimiter(django_settings.REDIS_URL)

    limiter.acquire(emails=100)
    limiter.acquire(emails=100)

    with pytest.raises(HourlyCapReached) as excinfo:
        limiter.acquire(emails=100)
    assert 3000 < excinfo.value.retry_after <= 3600


def test_local_limiter_spaces_requests_and_honours_the_hourly_cap(settings) -> None:
    settings.RESEND_RATE_LIMIT = 50
    settings.RESEND_HOURLY_CAP = 300
    limiter = LocalLimiter()

    started = time.monotonic()
    for _ in range(3):
        limiter.acquire(emails=100)
    elapsed = time.monotonic() - started

    assert 0.03 <= elapsed < 0.2
    with pytest.raises(HourlyCapReached):
        limiter.acquire(emails=1)
