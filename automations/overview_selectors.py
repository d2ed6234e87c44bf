"""Reads of automations and journeys for the dashboard at `/` and the calendar: next firings, firings by day,
runs in a range, journeys with contacts due, and the automation run or journey step behind a Send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Min, QuerySet
from django.utils import timezone as dj_timezone

from automations import cron
from automations.cron_calendar import DayFirings, firings_by_day, next_firing
from automations.models import Automation, AutomationRun, Enrollment, EnrollmentStep, Journey


@dataclass(frozen=True)
class NextFiring:
    automation: Automation
    at: dt.datetime


def _window(automation: Automation, zone: dt.tzinfo) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The automation's active dates as instants in its zone: [start_date 00:00, day after end_date 00:00)."""
    start = dt.datetime.combine(automation.start_date, dt.time(0), tzinfo=zone) if automation.start_date else None
    end = (
        dt.datetime.combine(automation.end_date + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
        if automation.end_date
        else None
    )
    return start, end


def automations_next_firings(*, now: dt.datetime | None = None, limit: int = 8) -> tuple[list[NextFiring], int]:
    """The next firing of every active automation (inside its dates), soonest first: the first `limit`, and how
    many active automations will fire at all. ~6 µs an automation (automations.cron_calendar)."""
    now = now or dj_timezone.now()
    firings: list[NextFiring] = []
    for automation in Automation.objects.active().select_related("segment", "template"):
        try:
            zone = cron.zone(automation.timezone)
            start, end = _window(automation, zone)
            at = next_firing(
                automation.cron,
                tz=automation.timezone,
                after=max(now, start - dt.timedelta(seconds=1)) if start else now,
            )
        except (ValueError, KeyError):
            continue  # an expression or zone that no longer parses fires nothing (its page says why)
        if at is not None and (end is None or at < end):
            firings.append(NextFiring(automation, at))
    firings.sort(key=lambda f: (f.at, f.automation.pk))
    return firings[:limit], len(firings)


@dataclass(frozen=True)
class AutomationDay:
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
    for automation in Automation.objects.active():
        try:
            zone = cron.zone(automation.timezone)
            first, last = _window(automation, zone)
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
        AutomationRun.objects.select_related("automation").filter(due_at__gte=start, due_at__lt=end).order_by("due_at")
    )


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
