"""The engine's events, written with the change they report: a crash between a commit and its publish loses none.

`publish_on_commit` inserts a `SendNotice` in the caller's transaction and publishes it when that commits; the
notice is marked published once every subscriber took it. `notices_redeliver` (a scheduler tick hook) publishes
again, in order, the notices that stayed unpublished (the process died after the commit, or a subscriber raised).
So the owners' records of a send (campaigns' Scenario status and Emailer, automations' runs, journeys' steps) are
written by their event handler only; no owner keeps a reconciler that compares itself with the Send.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import cast

from django.db import transaction
from django.utils import timezone

from delivery import events
from delivery.models import SendNotice

logger = logging.getLogger("delivery.services")

# Long enough that the publish on commit has surely run (it follows the commit by milliseconds), so the tick does
# not publish a notice that is being published; short enough that a lost one reaches its owner within a minute.
REDELIVER_AFTER = timedelta(seconds=30)
# A notice its subscribers keep refusing is retried for a day, then left (and logged) for an operator.
REDELIVER_FOR = timedelta(days=1)
REDELIVER_BATCH = 200


def publish_on_commit(send_id: int, event: events.SendEvent, reason: str = "") -> None:
    notice = SendNotice.objects.create(send_id=send_id, event=event, reason=reason[:500])
    transaction.on_commit(functools.partial(_deliver, notice.pk, send_id, event, reason))


def _deliver(notice_id: int, send_id: int, event: events.SendEvent, reason: str) -> bool:
    if not events.publish(send_id=send_id, event=event, reason=reason):
        return False
    SendNotice.objects.filter(pk=notice_id, published_at=None).update(published_at=timezone.now())
    return True


def notices_redeliver(*, now: datetime | None = None) -> int:
    """Publish again the notices still unpublished `REDELIVER_AFTER` after their commit, oldest first. Returns
    how many were published. Two ticks racing publish one twice at worst, which subscribers shrug off."""
    now = now or timezone.now()
    lost = (
        SendNotice.objects.filter(
            published_at=None, created_at__lt=now - REDELIVER_AFTER, created_at__gte=now - REDELIVER_FOR
        )
        .order_by("id")
        .values_list("pk", "send_id", "event", "reason")[:REDELIVER_BATCH]
    )
    published = 0
    for notice_id, send_id, event, reason in lost:
        if _deliver(notice_id, send_id, cast("events.SendEvent", event), reason):
            published += 1
            logger.warning("send %s: the %r event was lost after its commit; published now", send_id, event)
    return published
