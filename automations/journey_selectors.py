"""Reads of journeys for the pages: the list, per-step counts, the report (conversion, funnel, time to goal), the
enrollments of a journey and a contact's journeys.

Everything that grows with the audience is a GROUP BY in the database, never a loop over enrollments: the
per-step counts are three grouped queries whatever the number of contacts (waiting: enrollments by step; reached
and the step's Sends: history rows by step; sent / failed / opened / clicked: deliveries by Send).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import overload

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone as dj_timezone

from automations.journey_models import Enrollment, EnrollmentStep, Journey, JourneyStep
from contacts.models import FunnelEvent
from delivery.models import Delivery, OutboxMessage

E = Enrollment.Status
FAILED_STATUSES = (Delivery.Status.FAILED, Delivery.Status.BOUNCED, Delivery.Status.COMPLAINED)


# --- the list ------------------------------------------------------------------------------------------------


def journey_list(*, search: str = "", status: str = "") -> QuerySet[Journey]:
    """Journeys by name, with `active_count` (active enrollments): a subquery per row of the page only, through
    the (journey, status, step_key) index."""
    active = (
        Enrollment.objects.filter(journey=OuterRef("pk"), status=E.ACTIVE)
        .order_by()
        .values("journey")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = Journey.objects.annotate(active_count=Coalesce(Subquery(active), 0)).order_by("name", "id")
    if search:
        rows = rows.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if status:
        rows = rows.filter(status=status)
    return rows


# --- per-step counts -----------------------------------------------------------------------------------------


@dataclass
class StepRow:
    step: JourneyStep
    waiting: int = 0
    reached: int = 0  # visits of this step (contacts that reached it, once per pass through a loop)
    sent: int = 0
    failed: int = 0
    opened: int = 0
    clicked: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def open_rate(self) -> str:
        return f"{100 * self.opened / self.sent:.0f}%" if self.sent else ""

    @property
    def click_rate(self) -> str:
        return f"{100 * self.clicked / self.sent:.0f}%" if self.sent else ""


def _step_sends(journey: Journey) -> tuple[dict[str, int], dict[int, str]]:
    """Enrollments that reached each step, and which step each of the journey's Sends belongs to: one GROUP BY
    over the journey's history rows."""
    reached: dict[str, int] = {}
    send_step: dict[int, str] = {}
    grouped = (
        EnrollmentStep.objects.filter(enrollment__journey=journey)
        .values("step_key", "send_id")
        .annotate(n=Count("id"))
        .values_list("step_key", "send_id", "n")
    )
    for key, send_id, n in grouped:
        # A history row is one visit of one step (unique per enrollment, step, visit): without loops that is one
        # per contact; a loop back to a step counts the contact once per pass. COUNT(DISTINCT) cost a sort.
        reached[key] = reached.get(key, 0) + n
        if send_id is not None:
            send_step[send_id] = key
    return reached, send_step


def journey_step_rows(*, journey: Journey) -> list[StepRow]:
    """The steps top to bottom with how many contacts wait there, how many reached them and, for send steps, the
    sent / failed / opened / clicked emails (Delivery rows are the truth; opened and clicked are the first human
    ones)."""
    rows = [StepRow(step=s) for s in journey.steps.select_related("template").order_by("position", "id")]
    by_key = {r.step.key: r for r in rows}
    waiting = (
        Enrollment.objects.filter(journey=journey, status=E.ACTIVE)
        .values("step_key")
        .annotate(n=Count("id"))
        .values_list("step_key", "n")
    )
    for key, n in waiting:
        if key in by_key:
            by_key[key].waiting = n
    reached, send_step = _step_sends(journey)
    for key, n in reached.items():
        if key in by_key:
            by_key[key].reached = n
    if send_step:
        delivered = (
            Delivery.objects.filter(send_id__in=list(send_step))
            .values("send_id")
            .annotate(
                sent=Count("id", filter=Q(status=Delivery.Status.SENT)),
                failed=Count("id", filter=Q(status__in=FAILED_STATUSES)),
                opened=Count("id", filter=Q(opened_at__isnull=False)),
                clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            )
            .values_list("send_id", "sent", "failed", "opened", "clicked")
        )
        for send_id, sent, failed, opened, clicked in delivered:
            row = by_key.get(send_step[send_id])
            if row is not None:
                row.sent += sent
                row.failed += failed
                row.opened += opened
                row.clicked += clicked
    return rows


def journey_status_counts(*, journey: Journey) -> dict[str, int]:
    return dict(
        Enrollment.objects.filter(journey=journey)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )


# --- the report ----------------------------------------------------------------------------------------------


@dataclass
class JourneyReport:
    counts: dict[str, int]
    time_to_goal_median: dt.timedelta | None = None
    time_to_goal_p90: dt.timedelta | None = None

    @property
    def enrolled(self) -> int:
        return sum(self.counts.values())

    def _n(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def active(self) -> int:
        return self._n(E.ACTIVE)

    @property
    def completed(self) -> int:
        return self._n(E.COMPLETED)

    @property
    def exited_goal(self) -> int:
        return self._n(E.EXITED_GOAL)

    @property
    def exited_unsubscribed(self) -> int:
        return self._n(E.EXITED_UNSUBSCRIBED)

    @property
    def cancelled(self) -> int:
        return self._n(E.CANCELLED)

    @property
    def failed(self) -> int:
        return self._n(E.FAILED)

    @property
    def conversion_rate(self) -> float | None:
        """Exited by goal / enrolled, as a fraction; None before anyone entered."""
        return self.exited_goal / self.enrolled if self.enrolled else None


def _time_to_goal(journey: Journey) -> tuple[dt.timedelta | None, dt.timedelta | None]:
    """Median and 90th percentile of finished_at - entered_at over the enrollments that left by the goal."""
    goal = Enrollment.objects.filter(journey=journey, status=E.EXITED_GOAL, finished_at__isnull=False)
    if connection.vendor == "postgresql":
        sql = (
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.9) WITHIN GROUP (ORDER BY d) "
            "FROM (SELECT extract(epoch FROM finished_at - entered_at) AS d FROM automations_enrollment "
            "WHERE journey_id = %s AND status = %s AND finished_at IS NOT NULL) AS t"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [journey.pk, E.EXITED_GOAL])
            median, p90 = cursor.fetchone()
        if median is None:
            return None, None
        return dt.timedelta(seconds=float(median)), dt.timedelta(seconds=float(p90))
    # The embedded SQLite mode has no percentile function; its journeys are small.
    seconds = sorted((f - e).total_seconds() for e, f in goal.values_list("entered_at", "finished_at") if f)
    if not seconds:
        return None, None
    if len(seconds) == 1:
        return dt.timedelta(seconds=seconds[0]), dt.timedelta(seconds=seconds[0])
    cuts = statistics.quantiles(seconds, n=10, method="inclusive")
    return dt.timedelta(seconds=statistics.median(seconds)), dt.timedelta(seconds=cuts[8])


def journey_report(*, journey: Journey) -> JourneyReport:
    median, p90 = _time_to_goal(journey)
    return JourneyReport(
        counts=journey_status_counts(journey=journey), time_to_goal_median=median, time_to_goal_p90=p90
    )


@dataclass
class JourneyFigures:
    rows: list[StepRow]
    report: JourneyReport
    computed_at: dt.datetime
    cached: bool = False  # computed for a large journey and kept up to JOURNEY_FIGURES_CACHE_SECONDS


def journey_figures(*, journey: Journey) -> JourneyFigures:
    """The steps with their counts and the report, as the journey page and its poll show them.

    The status counts are always read fresh (one index-only GROUP BY). The rest reads every history row and every
    delivery of the journey: seconds at a million enrollments (docs/journeys.md), so from
    JOURNEY_FIGURES_CACHE_FROM enrollments on it is computed at most once per JOURNEY_FIGURES_CACHE_SECONDS per
    journey (shared by every viewer and poll; an edit of the journey starts afresh)."""
    counts = journey_status_counts(journey=journey)
    threshold = int(settings.JOURNEY_FIGURES_CACHE_FROM)
    seconds = int(settings.JOURNEY_FIGURES_CACHE_SECONDS)
    big = seconds > 0 and sum(counts.values()) >= threshold
    key = f"journey-figures:{journey.pk}:{journey.updated_at.timestamp() if journey.updated_at else 0}"
    if big:
        kept = cache.get(key)
        if isinstance(kept, JourneyFigures):
            kept.report.counts = counts
            return kept
    median, p90 = _time_to_goal(journey)
    report = JourneyReport(counts=counts, time_to_goal_median=median, time_to_goal_p90=p90)
    figures = JourneyFigures(
        rows=journey_step_rows(journey=journey), report=report, computed_at=dj_timezone.now(), cached=big
    )
    if big:
        cache.set(key, figures, seconds)
    return figures


@dataclass
class FunnelBar:
    label: str
    n: int
    percent: float  # of the enrolled
    width: float  # of the drawing's bar area, 0..1
    y: int = 0


def journey_funnel(*, report: JourneyReport, rows: list[StepRow], goal: bool) -> list[FunnelBar]:
    """Enrolled, then the contacts that reached each step (in order), then the goal: the bars of the chart."""
    total = report.enrolled
    items: list[tuple[str, int]] = [("Enrolled", total)]
    items += [(f"{r.step.key} · {r.step.get_type_display()}", r.reached) for r in rows]
    if goal:
        items.append(("Goal reached", report.exited_goal))
    top = max([n for _, n in items] + [1])
    return [
        FunnelBar(label=label, n=n, percent=100 * n / total if total else 0.0, width=n / top, y=index * 28)
        for index, (label, n) in enumerate(items)
    ]


# --- enrollments ---------------------------------------------------------------------------------------------


def journey_enrollments(*, journey: Journey, status: str = "") -> QuerySet[Enrollment]:
    rows = Enrollment.objects.filter(journey=journey).select_related("contact").order_by("-id")
    return rows.filter(status=status) if status else rows


class CountedRows:
    """A queryset whose row count is already known, for the Paginator (which would run a COUNT(*) of its own)."""

    def __init__(self, rows: QuerySet[Enrollment], count: int) -> None:
        self.rows = rows
        self._count = count

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Enrollment]:
        return iter(self.rows)

    @overload
    def __getitem__(self, index: int, /) -> Enrollment: ...
    @overload
    def __getitem__(self, index: slice, /) -> QuerySet[Enrollment]: ...
    def __getitem__(self, index: int | slice, /) -> Enrollment | QuerySet[Enrollment]:
        return self.rows[index]


@dataclass
class HistoryRow:
    item: EnrollmentStep
    delivery: Delivery | None = None
    outbox_id: int | None = None


@dataclass
class ContactEnrollment:
    enrollment: Enrollment
    history: list[HistoryRow]


def contact_enrollments(*, contact_id: int, limit: int = 50) -> list[ContactEnrollment]:
    """The contact's latest enrollments with their step history, each send step with the contact's Delivery (its
    status, opened, clicked) and, in the outbox mode, the stored message. Three queries whatever the count."""
    enrollments = list(
        Enrollment.objects.filter(contact_id=contact_id)
        .select_related("journey")
        .prefetch_related("history")
        .order_by("-entered_at", "-id")[:limit]
    )
    send_ids = {h.send_id for e in enrollments for h in e.history.all() if h.send_id}
    deliveries: dict[int, Delivery] = {}
    outbox: dict[int, int] = {}
    if send_ids:
        deliveries = {d.send_id: d for d in Delivery.objects.filter(contact_id=contact_id, send_id__in=send_ids)}
        outbox = dict(
            OutboxMessage.objects.filter(delivery_id__in=[d.pk for d in deliveries.values()])
            .order_by("id")
            .values_list("delivery_id", "id")
        )
    out = []
    for e in enrollments:
        history = []
        for h in e.history.all():
            delivery = deliveries.get(h.send_id) if h.send_id else None
            history.append(HistoryRow(h, delivery, outbox.get(delivery.pk) if delivery else None))
        out.append(ContactEnrollment(enrollment=e, history=history))
    return out


def stage_names(*, limit: int = 200) -> list[str]:
    """Funnel stages seen so far, for the builder's suggestions. On PostgreSQL a skip scan of the events' stage
    index (one probe per distinct stage), as a plain DISTINCT would read every event."""
    if connection.vendor != "postgresql":
        return list(FunnelEvent.objects.order_by("to_stage").values_list("to_stage", flat=True).distinct()[:limit])
    table = FunnelEvent._meta.db_table
    sql = (
        f"WITH RECURSIVE t(s) AS ((SELECT to_stage FROM {table} ORDER BY to_stage LIMIT 1) UNION ALL "
        f"SELECT (SELECT to_stage FROM {table} WHERE to_stage > t.s ORDER BY to_stage LIMIT 1) FROM t "
        "WHERE t.s IS NOT NULL) SELECT s FROM t WHERE s IS NOT NULL LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [limit])
        return [row[0] for row in cursor.fetchall()]


def step_errors(*, messages: list[str], keys: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Activation messages by the step they name ("Step k: ..." or a loop "Steps a → b: ..."); the rest apart."""
    by_step: dict[str, list[str]] = defaultdict(list)
    other: list[str] = []
    known = set(keys)
    for message in messages:
        head, _, _ = message.partition(":")
        named: list[str] = []
        if head.startswith("Step "):
            named = [head[5:]]
        elif head.startswith("Steps "):
            named = list(dict.fromkeys(k.strip() for k in head[6:].split("→")))
        named = [k for k in named if k in known]
        for key in named:
            by_step[key].append(message)
        if not named:
            other.append(message)
    return dict(by_step), other
