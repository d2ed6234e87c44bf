"""The one way tests clear the Redis state sends leave behind: queued page messages and the rate limiter."""

from __future__ import annotations

import redis

PATTERNS = ("celery*", "unacked*", "_kombu*", "herald:rate:*")


def purge_broker(url: str) -> None:
    """Drop messages and limiter state a previous test (or a killed worker) left in this Redis database."""
    client = redis.Redis.from_url(url)
    keys = [key for pattern in PATTERNS for key in client.scan_iter(pattern)]
    if keys:
        client.delete(*keys)
