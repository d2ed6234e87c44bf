"""Celery tasks of the send engine: thin triggers over `delivery.services`, safe to run twice."""

from __future__ import annotations

from typing import Any

# The provider SDK (resend, requests) and the Redis client of the rate limiter are imported with the tasks, so a
# worker's parent process loads them before it forks its pool: the children share them instead of each importing
# them during its first page (0.15-0.2 s of CPU per child, which the first emails of a send used to wait for).
import redis  # noqa: F401
from celery import shared_task
from celery.signals import worker_init
from django.db import InterfaceError, OperationalError, connection

import delivery.transports.resend  # noqa: F401
from delivery import services


@shared_task(bind=True, acks_late=True, max_retries=None, soft_time_limit=120, time_limit=150)
def page_send_task(self: Any, send_id: int, page: int) -> str:
    """Send one page. Provider retries (429 retry-after, 5xx backoff) are counted on the Delivery rows, not
    here, so `max_retries` is unbounded: the rows fail for good after DELIVERY_MAX_ATTEMPTS and the page ends."""
    try:
        outcome = services.page_send(send_id=send_id, page=page)
    except (OperationalError, InterfaceError) as exc:
        # The database restarted or the connection dropped: the page's transaction rolled back, nothing was
        # recorded. A reused connection would stay broken, so drop it before trying again.
        connection.close()
        raise self.retry(exc=exc, countdown=min(60, 2 ** min(self.request.retries + 1, 6))) from exc
    if outcome.retry_in is not None:
        raise self.retry(countdown=max(0.0, outcome.retry_in))
    return outcome.status


@shared_task(soft_time_limit=100, time_limit=110, ignore_result=True)
def tracking_flush_task() -> int:
    """Store the buffered opens and clicks (one flusher at a time: a second copy returns at once)."""
    from delivery.services.tracking import tracking_buffer_flush

    return tracking_buffer_flush()


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660, ignore_result=True)
def send_snapshot_task(send_id: int) -> int:
    """Write the rest of a two-part snapshot (one transaction; a rerun after a crash writes each recipient once,
    and a copy running while another holds the Send's snapshot lock does nothing)."""
    return services.send_snapshot_rest(send_id=send_id)


@worker_init.connect
def _warm_worker(**kwargs: Any) -> None:
    """In a worker's parent process, before it forks its pool: build Django's URL resolver (the unsubscribe link's
    `reverse()` populates it, ~0.1 s of CPU), so the children inherit it instead of each building it during its
    first page."""
    from delivery.compose import link_prefixes

    link_prefixes()
