"""Reads of the engine for the dashboard at `/`: sends in progress, sends just finished with their engagement,
and engagement by day (what the dashboard's pre-aggregate is computed from)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate

from delivery.models import Delivery, Send

# An email that left Herald: bounced and complained ones were sent too.
LEFT = (Delivery.Status.SENT, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED)


@dataclass(frozen=True)
class SendEngagement:
    """Unique first human opens and clicks of one send's recipients (COUNT of opened_at / clicked_at)."""

    send_id: int
    opened: int
    clicked: int
    bounced: int
    complained: int


def send_get(*, send_id: int) -> Send | None:
    return Send.objects.filter(pk=send_id).first()


def sends_started_since(*, since: dt.datetime) -> QuerySet[Send]:
    """Every send started at or after `since` (the dashboard's period page), whatever its status now."""
    return Send.objects.filter(started_at__gte=since)


def sends_in_progress(*, limit: int = 20) -> list[Send]:
    """Sends sending or paused now (the `send_status` index reads only those), newest first."""
    return list(Send.objects.filter(status__in=(Send.Status.SENDING, Send.Status.PAUSED)).order_by("-id")[:limit])


def sends_finished(*, limit: int = 10) -> list[Send]:
    """The sends that finished last (done), most recent first."""
    return list(Send.objects.filter(status=Send.Status.DONE).order_by("-finished_at", "-id")[:limit])


def send_engagement(*, send_ids: Iterable[int]) -> dict[int, SendEngagement]:
    """One GROUP BY over the sends' Delivery rows (the unique (send, contact) index gives their ranges)."""
    ids = list(send_ids)
    if not ids:
        return {}
    rows = (
        Delivery.objects.filter(send_id__in=ids)
        .values("send_id")
        .annotate(
            opened=Count("opened_at"),
            clicked=Count("clicked_at"),
            bounced=Count("id", filter=Q(status=Delivery.Status.BOUNCED)),
            complained=Count("id", filter=Q(status=Delivery.Status.COMPLAINED)),
        )
        .values_list("send_id", "opened", "clicked", "bounced", "complained")
    )
    return {row[0]: SendEngagement(*row) for row in rows}


@dataclass
class DayEngagement:
    day: dt.date
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0


def engagement_by_day(
    *, start: dt.date, end: dt.date, zone: dt.tzinfo, sends_since: dt.datetime
) -> list[DayEngagement]:
    """Per local day in [start, end]: emails sent (by sent_at), first human opens (by opened_at), first human clicks
    (by clicked_at), bounces and complaints (by the sent_at of the bounced email).

    Reads the deliveries of sends created since `sends_since` in one pass, grouped by the three days at once
    (one row per combination seen, a few hundred at most), folded here. Too slow for a page at a million
    deliveries (docs/benchmarks.md, dashboard): the dashboard calls it from a worker and keeps the result.
    """
    days = {
        start + dt.timedelta(days=i): DayEngagement(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)
    }
    rows = (
        Delivery.objects.filter(send__created_at__gte=sends_since)
        .filter(Q(sent_at__isnull=False) | Q(opened_at__isnull=False) | Q(clicked_at__isnull=False))
        .values(
            "status",
            sent_day=TruncDate("sent_at", tzinfo=zone),
            open_day=TruncDate("opened_at", tzinfo=zone),
            click_day=TruncDate("clicked_at", tzinfo=zone),
        )
        .annotate(n=Count("id"))
        .values_list("status", "sent_day", "open_day", "click_day", "n")
    )
    for status, sent_day, open_day, click_day, n in rows:
        if sent_day in days and status in LEFT:
            days[sent_day].sent += n
            if status == Delivery.Status.BOUNCED:
                days[sent_day].bounced += n
            elif status == Delivery.Status.COMPLAINED:
                days[sent_day].complained += n
        if open_day in days:
            days[open_day].opened += n
        if click_day in days:
            days[click_day].clicked += n
    return list(days.values())
