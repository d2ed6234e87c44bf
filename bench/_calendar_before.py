"""The calendar month as it was computed before issue 17's calendar fix, kept for `bench dashboard`'s baseline in
the same run: every run of the range loaded as a model, every firing of every automation a frozen dataclass,
and every day entry a `functools.partial` (tens of thousands of heap objects: the garbage collector's full passes
over the heap cost more than the work). The bench checks both give the same grid."""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.utils import timezone

from accounts import roles
from automations import cron
from automations import overview_selectors as automation_overview
from automations.cron_calendar import _day_matches, _expand, _fallback_by_day, _moments, _shifts
from automations.models import Automation
from campaigns import overview_selectors as campaign_overview
from dashboard.agenda import (
    MONTH,
    MONTH_ITEMS,
    WEEK,
    WEEK_ITEMS,
    Agenda,
    Day,
    _firing_item,
    _range,
    _run_item,
    _scenario_item,
)


@dataclass(frozen=True, slots=True)
class _DayFirings:
    day: dt.date
    first: dt.datetime
    count: int


@dataclass(frozen=True)
class _AutomationDay:
    automation: Automation
    firings: _DayFirings


def _firings_by_day(expression: str, *, tz: str, start: dt.datetime, end: dt.datetime) -> list[Any]:
    zone = cron.zone(tz)
    spec = _expand(expression)
    if not spec.simple:
        return _fallback_by_day(expression, zone=zone, start=start, end=end)
    found: list[_DayFirings] = []
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    day = first
    while day <= last:
        if _day_matches(spec, day):
            if day in (first, last) or _shifts(day, zone):
                inside = [m for m in _moments(day, spec.times, zone) if start <= m < end]
                if inside:
                    found.append(_DayFirings(day, inside[0], len(inside)))
            else:
                found.append(_DayFirings(day, dt.datetime.combine(day, spec.times[0], tzinfo=zone), len(spec.times)))
        day += dt.timedelta(days=1)
    return found


def _firings_in_range(*, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[_AutomationDay]:
    start = max(start, now + dt.timedelta(microseconds=1))
    found: list[_AutomationDay] = []
    if start >= end:
        return found
    for automation in Automation.objects.active().only("id", "name", "cron", "timezone", "start_date", "end_date"):
        try:
            zone = cron.zone(automation.timezone)
            first, last = automation_overview._window_of(automation.start_date, automation.end_date, zone)
            days = _firings_by_day(
                automation.cron,
                tz=automation.timezone,
                start=max(start, first) if first else start,
                end=min(end, last) if last else end,
            )
        except (ValueError, KeyError):
            continue
        found.extend(_AutomationDay(automation, day) for day in days)
    return found


def build_agenda_before(*, user: Any, view: str, anchor: dt.date, now: dt.datetime | None = None) -> Agenda:
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    view = WEEK if view == WEEK else MONTH
    start, end, previous, following, title = _range(view, anchor)
    can_move = roles.can_edit(user)
    days: dict[dt.date, list[Any]] = {start + dt.timedelta(days=i): [] for i in range((end - start).days + 1)}
    for scenario in campaign_overview.scenarios_in_range(user=user, start=start, end=end):
        at = scenario.send_time
        days[scenario.send_date].append(
            (at.hour, at.minute, 0, scenario.subject, partial(_scenario_item, scenario, can_move=can_move))
        )
    range_start = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    range_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    for run in automation_overview.automation_runs_in_range(start=range_start, end=min(range_end, now)):
        local = run.due_at.astimezone(zone)
        entries = days.get(local.date())
        if entries is not None:
            entries.append((local.hour, local.minute, 1, run.automation.name, partial(_run_item, run, local)))
    for firing in _firings_in_range(start=range_start, end=range_end, now=now):
        local = firing.firings.first.astimezone(zone)
        entries = days.get(local.date())
        if entries is not None:
            entries.append(
                (local.hour, local.minute, 2, firing.automation.name, partial(_firing_item, firing, local))  # type: ignore[arg-type]
            )
    limit = WEEK_ITEMS if view == WEEK else MONTH_ITEMS
    today = timezone.localdate(now)
    cells = []
    for date, entries in days.items():
        shown = heapq.nsmallest(limit, entries, key=lambda e: (e[0], e[1], e[2], e[3]))
        in_range = view == WEEK or date.month == anchor.month
        cells.append(Day(date, in_range, date == today, [make() for *_, make in shown], max(0, len(entries) - limit)))
    weeks = [cells[i : i + 7] for i in range(0, len(cells), 7)]
    return Agenda(view, anchor, start, end, weeks, title, previous, following, can_move)


def grid(agenda: Agenda) -> list[tuple[dt.date, list[tuple[str, str, str]], int]]:
    """What a grid shows, to compare two computations: each day's items (kind, label, time) and its "+N more"."""
    return [(d.date, [(i.kind, i.label, i.time) for i in d.items], d.more) for week in agenda.weeks for d in week]
