"""Computing one Send's report: a handful of set-based aggregates over its rows, stored in SendReport.

At a million recipients and five million tracking events these statements take seconds, which is why a page
never runs them for a large send: a worker does (`reports.services`), and the page reads the stored row.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from delivery.models import Delivery, Send, TrackingEvent
from reports.attribution import send_conversions
from reports.goals import send_goal
from reports.models import SendReport, UnsubscribeRecord

HUMAN = TrackingEvent.Classification.HUMAN
MACHINE = TrackingEvent.Classification.MACHINE
OPEN = TrackingEvent.Kind.OPEN
CLICK = TrackingEvent.Kind.CLICK


def send_started(send: Send) -> dt.datetime:
    """When the send's clock starts: the time series counts hours from here."""
    return send.started_at or send.snapshot_at or send.created_at


def _delivery_figures(send_id: int) -> dict[str, int]:
    # One pass over the send's rows (the unique (send, contact) index range), every figure a FILTER.
    sent_statuses = (Delivery.Status.SENT, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED)
    figures = Delivery.objects.filter(send_id=send_id).aggregate(
        recipients=Count("id"),
        sent=Count("id", filter=Q(status__in=sent_statuses)),
        failed=Count("id", filter=Q(status=Delivery.Status.FAILED)),
        delivered=Count("id", filter=Q(delivered_at__isnull=False)),
        bounced=Count("id", filter=Q(status=Delivery.Status.BOUNCED)),
        complained=Count("id", filter=Q(status=Delivery.Status.COMPLAINED)),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        clicked=Count("id", filter=Q(clicked_at__isnull=False)),
    )
    return {key: int(value or 0) for key, value in figures.items()}


def _event_figures(send_id: int) -> dict[str, int]:
    rows = (
        TrackingEvent.objects.filter(send_id=send_id)
        .values("kind", "classification")
        .annotate(events=Count("id"), deliveries=Count("delivery_id", distinct=True))
        .order_by()
    )
    found: dict[tuple[str, str], dict[str, Any]] = {(row["kind"], row["classification"]): dict(row) for row in rows}

    def pick(kind: str, cls: str, key: str) -> int:
        return int(found.get((kind, cls), {}).get(key) or 0)

    return {
        "open_events": pick(OPEN, HUMAN, "events"),
        "click_events": pick(CLICK, HUMAN, "events"),
        "machine_open_events": pick(OPEN, MACHINE, "events"),
        "machine_click_events": pick(CLICK, MACHINE, "events"),
        "opened_machine": pick(OPEN, MACHINE, "deliveries"),
        "clicked_machine": pick(CLICK, MACHINE, "deliveries"),
    }


def _hours(send_id: int, started: dt.datetime) -> list[list[int]]:
    """[hour after the start, human opens, machine opens, human clicks, machine clicks], hours with events only."""
    base = started.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    rows = (
        TrackingEvent.objects.filter(send_id=send_id)
        .annotate(hour=TruncHour("created_at", tzinfo=dt.UTC))
        .values("hour", "kind", "classification")
        .annotate(n=Count("id"))
        .order_by()
    )
    column: dict[tuple[str, str], int] = {(OPEN, HUMAN): 1, (OPEN, MACHINE): 2, (CLICK, HUMAN): 3, (CLICK, MACHINE): 4}
    series: dict[int, list[int]] = {}
    for row in rows:
        offset = max(0, int((row["hour"] - base).total_seconds() // 3600))
        series.setdefault(offset, [offset, 0, 0, 0, 0])[column[(row["kind"], row["classification"])]] += row["n"]
    return [series[key] for key in sorted(series)]


def _links(send_id: int) -> list[list[Any]]:
    """[url, human clicks, unique human clicks, machine clicks], most clicked first."""
    rows = (
        TrackingEvent.objects.filter(send_id=send_id, kind=CLICK)
        .values("url", "classification")
        .annotate(n=Count("id"), u=Count("delivery_id", distinct=True))
        .order_by()
    )
    links: dict[str, list[Any]] = {}
    for row in rows:
        link = links.setdefault(row["url"], [row["url"], 0, 0, 0])
        if row["classification"] == HUMAN:
            link[1] += row["n"]
            link[2] += row["u"]
        else:
            link[3] += row["n"]
    return sorted(links.values(), key=lambda link: (-link[1], -link[3], link[0]))


def send_report_compute(*, send_id: int) -> SendReport:
    """Recompute and store the send's report (idempotent: the same rows give the same row)."""
    send = Send.objects.get(pk=send_id)
    computed_at = timezone.now()
    started_clock = time.monotonic()
    started = send_started(send)
    _owner, goal = send_goal(send_id=send_id)
    conversions = send_conversions(send_id=send_id, stage=goal.stage, window=goal.window, since=started)
    values: dict[str, Any] = {
        **_delivery_figures(send_id),
        **_event_figures(send_id),
        "unsubscribed": UnsubscribeRecord.objects.filter(send_id=send_id).count(),
        "conversions": conversions.click,
        "conversions_view": conversions.view,
        "revenue": conversions.revenue,
        "revenue_view": conversions.revenue_view,
        "goal_stage": goal.stage,
        "window_days": goal.window_days,
        "hours": _hours(send_id, started),
        "links": _links(send_id),
        "computed_at": computed_at,
        "refresh_requested_at": None,
    }
    values["compute_seconds"] = time.monotonic() - started_clock
    report, _created = SendReport.objects.update_or_create(send_id=send_id, defaults=values)
    return report
