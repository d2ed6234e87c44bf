"""Reads of the reports app: a target's figures (summed from stored SendReports), its recipients' rows, a contact's
deliveries. Nothing here scans tracking events for a page: `reports.compute` did, once per send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, QuerySet, Sum

from delivery.models import Delivery, Send, TrackingEvent
from reports.attribution import Credit, contact_credits
from reports.goals import Goal, send_goal
from reports.models import SendReport, UnsubscribeRecord

COUNTS = (
    "recipients",
    "sent",
    "failed",
    "delivered",
    "bounced",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
    "opened_machine",
    "clicked_machine",
    "open_events",
    "click_events",
    "machine_open_events",
    "machine_click_events",
    "conversions",
    "conversions_view",
)
# Money figures (HERALD_CURRENCY), summed like COUNTS but kept as Decimal.
AMOUNTS = ("revenue", "revenue_view")
CENT = Decimal("0.01")
HOURLY_SPAN = 48  # the hourly chart covers the first two days; the daily one the rest
DAILY_SPAN = 30


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Figures:
    """The figures of one or more sends. Unique figures count deliveries: a contact who got two scenarios of a
    campaign and opened both counts twice, once per email."""

    sends: int = 0
    reported: int = 0
    computed_at: dt.datetime | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    amounts: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(AMOUNTS, Decimal("0.00")))
    hours: dict[int, list[int]] = field(default_factory=dict)
    links: list[list[Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> int | Decimal:
        counts = self.__dict__.get("counts", {})
        if name in counts:
            return int(counts[name])
        amounts = self.__dict__.get("amounts", {})
        if name in amounts:
            return Decimal(amounts[name])
        raise AttributeError(name)

    @property
    def reached(self) -> int:
        """Sent and not bounced: the base of every rate (a provider's `delivered` is not reported by every
        transport, so it is shown but not used as a base)."""
        return max(0, self.counts["sent"] - self.counts["bounced"])

    @property
    def rates(self) -> dict[str, float | None]:
        c = self.counts
        return {
            "bounce_rate": _rate(c["bounced"], c["sent"]),
            "open_rate": _rate(c["opened"], self.reached),
            "click_rate": _rate(c["clicked"], self.reached),
            "click_to_open": _rate(c["clicked"], c["opened"]),
            "unsubscribe_rate": _rate(c["unsubscribed"], self.reached),
            "complaint_rate": _rate(c["complained"], self.reached),
            "conversion_rate": _rate(c["conversions"], self.reached),
            "view_conversion_rate": _rate(c["conversions_view"], self.reached),
        }

    def hourly(self) -> list[list[int]]:
        """[hour, human opens, machine opens, human clicks, machine clicks] for the first HOURLY_SPAN hours."""
        return [self.hours.get(h, [h, 0, 0, 0, 0]) for h in range(HOURLY_SPAN)]

    def daily(self) -> list[list[int]]:
        """The same by day after the send, for DAILY_SPAN days (later events fold into the last day)."""
        days = [[d, 0, 0, 0, 0] for d in range(DAILY_SPAN)]
        for hour, row in self.hours.items():
            day = days[min(hour // 24, DAILY_SPAN - 1)]
            for i in range(1, 5):
                day[i] += row[i]
        return days


def report_figures(*, send_ids: Sequence[int]) -> Figures:
    """Sum the stored reports of these sends (one aggregate, then the small JSON series merged here)."""
    figures = Figures(sends=len(send_ids))
    reports = SendReport.objects.filter(send_id__in=send_ids, computed_at__isnull=False)
    sums = reports.aggregate(**{name: Sum(name) for name in (*COUNTS, *AMOUNTS)}, oldest=Min("computed_at"))
    figures.computed_at = sums.pop("oldest")
    figures.counts = {name: int(sums[name] or 0) for name in COUNTS}
    figures.amounts = {name: Decimal(sums[name] or 0).quantize(CENT) for name in AMOUNTS}
    links: dict[str, list[Any]] = {}
    for hours, send_links in reports.values_list("hours", "links"):
        figures.reported += 1
        for row in hours:
            merged = figures.hours.setdefault(row[0], [row[0], 0, 0, 0, 0])
            for i in range(1, 5):
                merged[i] += row[i]
        for url, human, unique, machine in send_links:
            link = links.setdefault(url, [url, 0, 0, 0])
            link[1] += human
            link[2] += unique
            link[3] += machine
    figures.links = sorted(links.values(), key=lambda link: (-link[1], -link[3], link[0]))
    return figures


def figures_rows(figures: Figures) -> Iterator[list[Any]]:
    """The figures as CSV rows: section, name, value."""
    yield ["section", "name", "value"]
    for name in COUNTS:
        yield ["figures", name, figures.counts[name]]
    for name in AMOUNTS:
        yield ["revenue", name, f"{figures.amounts[name]:.2f}"]
    yield ["revenue", "currency", settings.HERALD_CURRENCY]
    for name, value in figures.rates.items():
        yield ["rates", name, "" if value is None else f"{value:.4f}"]
    for url, human, unique, machine in figures.links:
        yield ["link human clicks", url, human]
        yield ["link unique human clicks", url, unique]
        yield ["link machine clicks", url, machine]
    for hour in sorted(figures.hours):
        row = figures.hours[hour]
        for i, name in enumerate(("human opens", "machine opens", "human clicks", "machine clicks"), start=1):
            if row[i]:
                yield [f"hour {hour} after the send", name, row[i]]


# What the dashboard's period page can rank sends by (a stored SendReport figure), "" for the newest first.
PERIOD_METRICS = ("sent", "opened", "clicked", "bounced", "complained", "conversions", "revenue")


def sends_ranked(*, sends: QuerySet[Send], metric: str = "") -> QuerySet[Send]:
    """`sends` with their stored report (`send.report`, when computed); by `metric`, only the sends whose report
    has some of it, most first (the sends behind a total), otherwise newest first."""
    sends = sends.select_related("report")
    if metric not in PERIOD_METRICS:
        return sends.order_by("-started_at", "-id")
    return sends.filter(**{f"report__{metric}__gt": 0}).order_by(f"-report__{metric}", "-started_at", "-id")


def sends_totals(*, sends: QuerySet[Send]) -> Figures:
    """The stored reports of `sends` (a query, any length) added up: counts and revenue, no series or links."""
    figures = Figures()
    reports = SendReport.objects.filter(send__in=sends.values("id"), computed_at__isnull=False)
    sums = reports.aggregate(
        **{name: Sum(name) for name in (*COUNTS, *AMOUNTS)}, oldest=Min("computed_at"), reported=Count("id")
    )
    figures.computed_at = sums.pop("oldest")
    figures.reported = int(sums.pop("reported") or 0)
    figures.counts = {name: int(sums[name] or 0) for name in COUNTS}
    figures.amounts = {name: Decimal(sums[name] or 0).quantize(CENT) for name in AMOUNTS}
    return figures


@dataclass
class ContactDelivery:
    delivery: Delivery
    label: str
    human_opens: int = 0
    human_clicks: int = 0
    machine_events: int = 0
    unsubscribed: bool = False
    conversions: list[Credit] = field(default_factory=list)


CONTACT_DELIVERIES = 20


def contact_deliveries(*, contact_id: int, limit: int = CONTACT_DELIVERIES) -> list[ContactDelivery]:
    """The contact's latest deliveries with their opens, clicks, bounce, unsubscribe and the conversions credited
    to each (under each send's own goal). A handful of queries for `limit` rows."""
    deliveries = list(Delivery.objects.filter(contact_id=contact_id).select_related("send").order_by("-id")[:limit])
    rows = {d.pk: ContactDelivery(delivery=d, label=str(d.send)) for d in deliveries}
    if not rows:
        return []
    for delivery_id, kind, cls, n in (
        TrackingEvent.objects.filter(delivery_id__in=list(rows))
        .values("delivery_id", "kind", "classification")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("delivery_id", "kind", "classification", "n")
    ):
        row = rows[delivery_id]
        if cls == TrackingEvent.Classification.MACHINE:
            row.machine_events += n
        elif kind == TrackingEvent.Kind.OPEN:
            row.human_opens += n
        else:
            row.human_clicks += n
    for delivery_id in UnsubscribeRecord.objects.filter(delivery_id__in=list(rows)).values_list(
        "delivery_id", flat=True
    ):
        rows[delivery_id].unsubscribed = True
    goals: dict[Goal, list[int]] = {}
    send_goals: dict[int, Goal] = {}
    for d in deliveries:
        if d.send_id not in send_goals:
            send_goals[d.send_id] = send_goal(send_id=d.send_id)[1]
        goals.setdefault(send_goals[d.send_id], []).append(d.pk)
    for goal, ids in goals.items():
        for credit in contact_credits(contact_id=contact_id, stage=goal.stage, window=goal.window):
            if credit.delivery_id in ids:
                rows[credit.delivery_id].conversions.append(credit)
    return [rows[d.pk] for d in deliveries]
