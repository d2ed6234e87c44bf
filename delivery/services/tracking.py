"""Opens and clicks: recorded on the hot path, classified and stored in batches (docs/tracking.md).

The pixel and the redirect only verify their token and append one compact record to the web process's spool
file (services/tracking_spool.py: no network, no database, no row lock); a shipper thread of the process pushes
the new lines to a Redis list in batches; `tracking_buffer_flush` (a task the scheduler tick kicks every second)
turns the list into TrackingEvent rows and Delivery first-human-open/click times in one transaction per batch, then
trims what it stored. Exactly once: every hit carries a unique `event_key` from the request on (unique in the
table, ON CONFLICT DO NOTHING), so a shipper that re-pushes a batch, or a flush that dies between its COMMIT and its
LTRIM and re-reads one, inserts nothing twice.

Without Redis (the embedded default, or `TRACKING_BUFFER=direct`) the endpoint stores the hit itself through the
same `tracking_hits_ingest`; with Redis down the shipper stores its batches that way: slower, but nothing is
dropped (and each fallback is logged). Webhook opens and clicks (Resend) go through it too, so every source feeds
the same fields.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import redis
from django.conf import settings

from delivery.models import TrackingEvent
from delivery.services.tracking_spool import spool_append
from delivery.services.tracking_store import Hit, hit_new, tracking_hits_ingest

__all__ = [
    "BUFFER_KEY",
    "Hit",
    "buffer_client",
    "hit_new",
    "tracking_buffer_flush",
    "tracking_buffer_length",
    "tracking_hit_record",
    "tracking_hit_spool",
    "tracking_hits_ingest",
    "tracking_tick",
]

logger = logging.getLogger("delivery.tracking")

Kind = TrackingEvent.Kind
BUFFER_KEY = "herald:tracking:buffer"
LOCK_KEY = "herald:tracking:flush-lock"


# --- the hot path -------------------------------------------------------------------------------------------------

_clients: dict[tuple[str, float], redis.Redis] = {}


def buffer_client(*, timeout: float = 0.5) -> redis.Redis | None:
    """The buffer's Redis client, or None when hits are stored directly. The endpoints' timeouts are short: with
    Redis down, a request falls back to the database within a fraction of a second instead of hanging the
    reader's email; the flush (large reads) asks for a longer one."""
    if tracking_buffer_mode() != "redis":
        return None
    key = (str(settings.REDIS_URL), timeout)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(
            key[0], socket_connect_timeout=min(timeout, 0.25), socket_timeout=timeout, health_check_interval=30
        )
    return client


def tracking_buffer_mode() -> str:
    mode = str(getattr(settings, "TRACKING_BUFFER", "") or "")
    if mode in ("redis", "direct"):
        return mode if settings.REDIS_URL or mode == "direct" else "direct"
    return "redis" if settings.REDIS_URL else "direct"


def tracking_hit_spool(*, hit: Hit) -> bool:
    """The hot path's only write: the hit appended to this process's spool (no wait on Redis or the database). False
    when hits are stored directly (no Redis) or the spool cannot take it (the caller records it another way)."""
    if buffer_client() is None:
        return False
    try:
        spool_append(hit.dumps())
    except OSError as exc:
        logger.warning("tracking spool unavailable (%s): pushing the %s to Redis", exc, hit.kind)
        return False
    return True


def tracking_hit_record(*, hit: Hit, spool: bool = True) -> str:
    """Record one hit; returns where it went: "spooled" (the local spool, shipped to the buffer by this process's
    shipper thread), "buffered" (the spool failed: pushed to Redis by the request), or "stored" (no Redis, or
    nothing else took it: classified and inserted by the request itself). `spool=False`: the caller tried the
    spool already (`tracking_hit_spool`)."""
    if spool and tracking_hit_spool(hit=hit):
        return "spooled"
    client = buffer_client()
    if client is not None:
        try:
            client.rpush(BUFFER_KEY, hit.dumps())
            return "buffered"
        except redis.RedisError as exc:
            logger.warning("tracking buffer unavailable (%s): storing the %s directly", exc, hit.kind)
    tracking_hits_ingest(hits=[hit])
    return "stored"


# --- the flush ----------------------------------------------------------------------------------------------------


def tracking_buffer_flush(*, batch: int | None = None, max_batches: int = 20) -> int:
    """Store the buffered hits, a batch per transaction; returns how many were read. One flusher at a time."""
    client = buffer_client(timeout=10.0)
    if client is None:
        return 0
    size = int(batch or settings.TRACKING_FLUSH_BATCH)
    token = uuid.uuid4().hex
    if not client.set(LOCK_KEY, token, nx=True, ex=120):
        return 0
    done = 0
    try:
        for _ in range(max_batches):
            raw = client.lrange(BUFFER_KEY, 0, size - 1)
            if not raw:
                break
            hits = [h for h in (Hit.loads(r) for r in raw) if h is not None]
            if len(hits) != len(raw):
                logger.error("tracking buffer: %s unreadable entries skipped", len(raw) - len(hits))
            tracking_hits_ingest(hits=hits)
            # Only after the COMMIT: a crash before this line leaves the batch to be read again (event_key dedups).
            client.ltrim(BUFFER_KEY, len(raw), -1)
            done += len(raw)
            if len(raw) < size:
                break
    finally:
        if client.get(LOCK_KEY) == token.encode():
            client.delete(LOCK_KEY)
    return done


def tracking_buffer_length() -> int:
    client = buffer_client()
    return 0 if client is None else int(client.llen(BUFFER_KEY))  # type: ignore[arg-type]


def tracking_tick(*, now: dt.datetime | None = None) -> int:
    """SCHEDULER_TICK_HOOKS: hand the flush to a worker when hits are waiting (the tick itself stays fast).
    Returns the hits waiting."""
    try:
        waiting = tracking_buffer_length()
    except redis.RedisError as exc:
        logger.warning("tracking buffer unreadable: %s", exc)
        return 0
    if waiting:
        from delivery.tasks import tracking_flush_task

        tracking_flush_task.delay()
    return waiting
