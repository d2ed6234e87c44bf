"""Writes of the reports app: keeping SendReport rows fresh, conversion goals, unsubscribe records."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import FunnelEvent
from delivery.models import Delivery, Send, TrackingEvent
from reports.compute import send_report_compute
from reports.models import ConversionGoal, SendReport, UnsubscribeRecord
from reports.owners import owner_exists, owner_send_ids

logger = logging.getLogger(__name__)

# A worker asked to recompute a send and silent this long is presumed dead: the next page view or tick asks again.
REQUEST_TIMEOUT = dt.timedelta(minutes=10)
MAX_WINDOW_DAYS = 90


def _stale_before(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(seconds=int(settings.REPORTS_STALE_SECONDS))


def _live_since(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(days=int(settings.REPORTS_LIVE_DAYS))


# A live report is recomputed no sooner than this many times its last computation took: a 1M-recipient send's
# report costs about 35 s of database time (docs/benchmarks.md), so it is refreshed every ~12 minutes, not every
# 5, which keeps each live send's refreshes under 5 % of one core.
COST_FACTOR = 20


def stale_send_ids(*, send_ids: Iterable[int], now: dt.datetime | None = None) -> list[int]:
    """The sends whose report is missing, invalidated, or older than REPORTS_STALE_SECONDS (and than COST_FACTOR
    times its last computation) while the send is still live (started within REPORTS_LIVE_DAYS: opens, clicks and
    conversions may still arrive). A report computed after that is final. Sends not started yet have nothing to
    report."""
    now = now or timezone.now()
    candidates = (
        Send.objects.filter(id__in=list(send_ids), started_at__isnull=False)
        .filter(
            Q(report__isnull=True)
            | Q(report__computed_at__isnull=True)
            | Q(report__computed_at__lt=_stale_before(now), started_at__gte=_live_since(now))
        )
        .values_list("id", "report__computed_at", "report__compute_seconds")
    )
    return [
        send_id
        for send_id, computed_at, cost in candidates
        if computed_at is None or computed_at < now - dt.timedelta(seconds=COST_FACTOR * (cost or 0))
    ]


def send_report_request(*, send_id: int, now: dt.datetime | None = None) -> bool:
    """Ask a worker to recompute the send's report; False when one was asked less than REQUEST_TIMEOUT ago."""
    from reports.tasks import send_report_refresh_task

    now = now or timezone.now()
    SendReport.objects.get_or_create(send_id=send_id)
    claimed = (
        SendReport.objects.filter(send_id=send_id)
        .filter(Q(refresh_requested_at__isnull=True) | Q(refresh_requested_at__lt=now - REQUEST_TIMEOUT))
        .update(refresh_requested_at=now)
    )
    if claimed:
        send_report_refresh_task.delay_on_commit(send_id)
    return bool(claimed)


# A hit reaches the table a second or two after it happened (spool, buffer, flush), with the time it happened:
# events this much older than a computation may still have missed it.
NEWS_MARGIN = dt.timedelta(seconds=10)


def changed_send_ids(*, send_ids: Iterable[int], now: dt.datetime | None = None) -> list[int]:
    """Live sends, small together (at most REPORTS_INLINE_MAX recipients), whose report predates an open, a click
    or a funnel event: a page recomputes them at once (a tenth of a second at most), so someone who just clicked a
    link in the Outbox or posted a conversion sees it now, not REPORTS_STALE_SECONDS later. Larger sends keep the
    staleness rule: their computation costs seconds."""
    now = now or timezone.now()
    rows = [
        (send_id, computed_at, total)
        for send_id, computed_at, total in SendReport.objects.filter(
            send_id__in=list(send_ids), send__started_at__gte=_live_since(now)
        ).values_list("send_id", "computed_at", "send__total")
        if computed_at is not None
    ]
    if not rows or sum(total for _, _, total in rows) > int(settings.REPORTS_INLINE_MAX):
        return []
    oldest = min(computed_at for _, computed_at, _ in rows) - NEWS_MARGIN
    any_funnel_event = FunnelEvent.objects.filter(created_at__gt=oldest).exists()
    return [
        send_id
        for send_id, computed_at, _ in rows
        if (any_funnel_event and FunnelEvent.objects.filter(created_at__gt=computed_at - NEWS_MARGIN).exists())
        or TrackingEvent.objects.filter(send_id=send_id, created_at__gt=computed_at - NEWS_MARGIN).exists()
    ]


def reports_ensure(*, send_ids: Iterable[int], now: dt.datetime | None = None) -> list[int]:
    """Before a page reads reports: recompute stale ones (and small ones with news, `changed_send_ids`) at once
    when their sends are small together (at most REPORTS_INLINE_MAX recipients), else hand them to a worker.
    Returns the ids still being recomputed."""
    send_ids = list(send_ids)
    stale = stale_send_ids(send_ids=send_ids, now=now)
    stale += [i for i in changed_send_ids(send_ids=send_ids, now=now) if i not in stale]
    if not stale:
        return []
    size = sum(Send.objects.filter(id__in=stale).values_list("total", flat=True))
    if size <= int(settings.REPORTS_INLINE_MAX):
        for send_id in stale:
            send_report_compute(send_id=send_id)
        return []
    for send_id in stale:
        send_report_request(send_id=send_id, now=now)
    return stale


def send_report_refresh(*, send_id: int) -> SendReport | None:
    """What the worker runs. None when the send was deleted meanwhile."""
    if not Send.objects.filter(pk=send_id).exists():
        return None
    return send_report_compute(send_id=send_id)


def on_send_event(send_id: int, event: str, reason: str) -> None:
    """delivery.events subscriber: a finished send's report is computed right away (by a worker)."""
    if event in ("finished", "cancelled", "failed"):
        send_report_request(send_id=send_id)


def reports_tick(*, now: dt.datetime | None = None) -> int:
    """SCHEDULER_TICK_HOOKS entry: every REPORTS_REFRESH_SECONDS, ask workers to recompute the stale reports of
    live sends (at most REPORTS_TICK_BATCH at a time, the oldest first). Cheap on the other ticks: one cache add."""
    if not cache.add("reports:tick", 1, timeout=int(settings.REPORTS_REFRESH_SECONDS)):
        return 0
    now = now or timezone.now()
    live = Send.objects.filter(started_at__gte=_live_since(now)).values_list("id", flat=True)
    stale = stale_send_ids(send_ids=live, now=now)[: int(settings.REPORTS_TICK_BATCH)]
    return sum(send_report_request(send_id=send_id, now=now) for send_id in stale)


def conversion_goal_set(*, owner_type: str, owner_id: int, stage: str, window_days: int, user: Any = None) -> None:
    """Set an owner's conversion stage and window; its sends' reports are recomputed with it."""
    from accounts.roles import can_edit

    if user is not None and not can_edit(user):
        raise PermissionError("Viewers cannot change conversion goals.")
    stage = (stage or "").strip()
    errors: dict[str, str] = {}
    if not stage:
        errors["stage"] = "Name the funnel stage that counts as a conversion."
    if not 1 <= int(window_days) <= MAX_WINDOW_DAYS:
        errors["window_days"] = f"The attribution window is 1 to {MAX_WINDOW_DAYS} days."
    if not owner_exists(owner_type=owner_type, owner_id=owner_id):
        errors["owner_type"] = "No such campaign, automation or journey."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        ConversionGoal.objects.update_or_create(
            owner_type=owner_type,
            owner_id=owner_id,
            defaults={"stage": stage, "window_days": int(window_days), "updated_by": user},
        )
        # Invalidate: the next page view or tick recomputes them with the new goal.
        SendReport.objects.filter(send_id__in=owner_send_ids(owner_type=owner_type, owner_id=owner_id)).update(
            computed_at=None
        )


def unsubscribe_recorded(*, delivery_id: int, contact_id: int, at: dt.datetime | None = None) -> bool:
    """UNSUBSCRIBE_HOOKS entry (delivery's unsubscribe endpoint): the contact left through this delivery's link.
    Recorded once per delivery; a token naming another contact's delivery records nothing."""
    send_id = Delivery.objects.filter(pk=delivery_id, contact_id=contact_id).values_list("send_id", flat=True).first()
    if send_id is None:
        return False
    _record, created = UnsubscribeRecord.objects.get_or_create(
        delivery_id=delivery_id,
        defaults={"send_id": send_id, "contact_id": contact_id, "created_at": at or timezone.now()},
    )
    return created
