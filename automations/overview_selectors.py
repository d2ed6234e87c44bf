"""Reads of automations and journeys for the dashboard at `/` and the calendar: next firings, firings by day,
runs in a range, journeys with contacts due, and the automation run or journey step behind a Send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.core.cache import cache
from django.db.models import Count, F, Max, Min, QuerySet, Sum, Window
from django.db.models.functions import RowNumber, TruncDate, TruncMinute
from django.utils import timezone as dj_timezone

from automations import cron
from automations.cron_calendar import DayFirings, firings_by_day, next_firing
from automations.models import Automation, AutomationRun, Enrollment, EnrollmentStep, Journey


@dataclass(frozen=True)
class NextFiring:
    automation: Automation
    at: dt.datetime


def _window_of(
    first_day: dt.date | None, last_day: dt.date | None, zone: dt.tzinfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """An automation's active dates as instants in its zone: [start_date 00:00, day after end_date 00:00)."""
    start = dt.datetime.combine(first_day, dt.time(0), tzinfo=zone) if first_day else None
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=zone) if last_day else None
    return start, end


NEXT_CACHE_KEY = "automations:next-firings"
NEXT_CACHE_SECONDS = 3600


def _next_of(
    automation_id: int, cron_text: str, tz: str, first_day: dt.date | None, last_day: dt.date | None, now: dt.datetime
) -> dt.datetime | None:
    try:
        zone = cron.zone(tz)
        start, end = _window_of(first_day, last_day, zone)
        at = next_firing(cron_text, tz=tz, after=max(now, start - dt.timedelta(seconds=1)) if start else now)
    except (ValueError, KeyError):
        return None  # an expression or zone that no longer parses fires nothing (its page says why)
    return at if at is not None and (end is None or at < end) else None


def _next_table(ids: list[int] | None, now: dt.datetime) -> dict[int, dt.datetime | None]:
    rows = Automation.objects.active().values_list("id", "cron", "timezone", "start_date", "end_date")
    if ids is not None:
        rows = rows.filter(id__in=ids)
    return {row[0]: _next_of(*row, now=now) for row in rows}


def automations_next_firings(*, now: dt.datetime | None = None, limit: int = 8) -> tuple[list[NextFiring], int]:
    """The next firing of every active automation (inside its dates), soonest first: the first `limit`, and how
    many active automations will fire at all.

    The table of next firings (id -> time) is cached under a key naming the active set (count, ids, last edit):
    a cached time still in the future is still the next firing, so only the automations whose firing passed are
    recomputed (automations.cron_calendar, ~6 us each), and no Automation row is loaded but the `limit` shown.
    """
    now = now or dj_timezone.now()
    signature = Automation.objects.active().aggregate(
        n=Count("id"), ids=Sum("id"), top=Max("id"), edited=Max("updated_at")
    )
    edited = signature["edited"].timestamp() if signature["edited"] else 0
    key = f"{NEXT_CACHE_KEY}:{signature['n']}:{signature['ids']}:{signature['top']}:{edited}"
    table: dict[int, dt.datetime | None] | None = cache.get(key)
    if table is None:
        table = _next_table(None, now)
        cache.set(key, table, NEXT_CACHE_SECONDS)
    else:
        passed = [automation_id for automation_id, at in table.items() if at is not None and at <= now]
        if passed:
            table.update(_next_table(passed, now))
            cache.set(key, table, NEXT_CACHE_SECONDS)
    upcoming = sorted((at, automation_id) for automation_id, at in table.items() if at is not None)
    shown = Automation.objects.select_related("segment").in_bulk(
        [automation_id for _, automation_id in upcoming[:limit]]
    )
    firings = [NextFiring(shown[automation_id], at) for at, automation_id in upcoming[:limit] if automation_id in shown]
    return firings, len(upcoming)


class AutomationDay(NamedTuple):
    """One automation's firings of one day (a tuple: a month of 1,000 automations makes ~35,000)."""

    automation: Automation
    firings: DayFirings


def automation_firings_in_range(
    *, start: dt.datetime, end: dt.datetime, now: dt.datetime | None = None
) -> list[AutomationDay]:
    """Future firings of the active automations in (max(start, now), end), one entry per automation and local day
    (with the count, so an hourly schedule is one line a day, not 24)."""
    now = now or dj_timezone.now()
    start = max(start, now + dt.timedelta(microseconds=1))  # strictly after now, as next_firing
    found: list[AutomationDay] = []
    if start >= end:
        return found
    for automation in Automation.objects.active().only("id", "name", "cron", "timezone", "start_date", "end_date"):
        try:
            zone = cron.zone(automation.timezone)
            first, last = _window_of(automation.start_date, automation.end_date, zone)
            days = firings_by_day(
                automation.cron,
                tz=automation.timezone,
                start=max(start, first) if first else start,
                end=min(end, last) if last else end,
            )
        except (ValueError, KeyError):
            continue
        found.extend(AutomationDay(automation, day) for day in days)
    return found


def automation_runs_in_range(*, start: dt.datetime, end: dt.datetime) -> QuerySet[AutomationRun]:
    """The runs (past firings) due in [start, end)."""
    return (
        AutomationRun.objects.select_related("automation")
        .only("id", "due_at", "status", "automation_id", "automation__name")
        .filter(due_at__gte=start, due_at__lt=end)
        .order_by("due_at")
    )


@dataclass
class RunsByDay:
    """The runs of a range per local day: how many, and the first `per_day` of each (by minute, then name)."""

    counts: dict[dt.date, int]
    first: Sequence[AutomationRun]  # each with `local_day` set


def automation_runs_by_day(*, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo, per_day: int) -> RunsByDay:
    """Two statements whatever the number of runs: a count per local day and, ranked in the database, the first
    `per_day` runs of each day (a month of 1,000 daily automations is 30,000 runs; a calendar cell shows 6)."""
    runs = AutomationRun.objects.filter(due_at__gte=start, due_at__lt=end).annotate(
        local_day=TruncDate("due_at", tzinfo=zone)
    )
    counts = {row["local_day"]: row["n"] for row in runs.values("local_day").annotate(n=Count("id")).order_by()}
    ranked = runs.annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("local_day")],
            order_by=[TruncMinute("due_at").asc(), F("automation__name").asc(), F("id").asc()],
        )
    )
    first = list(
        ranked.filter(rank__lte=per_day)
        .select_related("automation")
        .only("id", "due_at", "status", "automation_id", "automation__name")
        .order_by("due_at")
    )
    return RunsByDay(counts, first)


def automation_runs_by_send(*, send_ids: Iterable[int]) -> dict[int, AutomationRun]:
    ids = list(send_ids)
    rows = AutomationRun.objects.select_related("automation").filter(send_id__in=ids) if ids else []
    return {run.send_id: run for run in rows if run.send_id is not None}


@dataclass(frozen=True)
class JourneyStepSend:
    journey: Journey
    step_key: str


def journey_steps_by_send(*, send_ids: Iterable[int]) -> dict[int, JourneyStepSend]:
    """The journey and step whose enrollments a Send carries (one Send per journey step and batch)."""
    pairs: list[tuple[int, int, str]] = []
    for send_id in send_ids:
        # One row per send (an index probe on enrollment_step_send), not a DISTINCT over every recipient's row.
        first = EnrollmentStep.objects.filter(send_id=send_id).values_list("enrollment__journey_id", "step_key").first()
        if first is not None:
            pairs.append((send_id, first[0], first[1]))
    journeys = Journey.objects.in_bulk({journey_id for _, journey_id, _ in pairs})
    return {
        send_id: JourneyStepSend(journeys[journey_id], key)
        for send_id, journey_id, key in pairs
        if journey_id in journeys
    }


@dataclass(frozen=True)
class JourneyDue:
    journey: Journey
    due: int
    first_at: dt.datetime


def journeys_due(*, now: dt.datetime | None = None, within: dt.timedelta = dt.timedelta(hours=24)) -> list[JourneyDue]:
    """Journeys with active enrollments whose next step is due before now + `within` (the `enrollment_due` partial
    index on next_at of active rows), most due first."""
    now = now or dj_timezone.now()
    rows = list(
        Enrollment.objects.filter(status=Enrollment.Status.ACTIVE, next_at__lt=now + within)
        .values("journey_id")
        .annotate(n=Count("id"), first=Min("next_at"))
        .order_by("-n")
    )
    journeys = Journey.objects.in_bulk([r["journey_id"] for r in rows])
    return [JourneyDue(journeys[r["journey_id"]], r["n"], r["first"]) for r in rows if r["journey_id"] in journeys]
