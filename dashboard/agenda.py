"""The calendar's grid: a month (whole weeks, Monday first) or a week, each day with its items.

Items: scenarios on their send date (any status; draft and scheduled ones can be moved), automation runs that
happened (by due time) and the next firings of active automations (one line per automation and day, with the
count, so an hourly schedule does not fill a month). Days are in the current time zone (settings.TIME_ZONE);
a scenario sits on its own send date, which is in its campaign's zone.
"""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils import timezone

from accounts import roles
from automations import overview_selectors as automation_overview
from automations.models import AutomationRun
from automations.overview_selectors import AutomationDay
from campaigns import overview_selectors as campaign_overview
from campaigns.models import Scenario
from config.gc_tuning import collector_relaxed

MONTH, WEEK = "month", "week"
# A month cell lists this many items and then "+N more" (the week view shows up to WEEK_ITEMS).
MONTH_ITEMS = 6
WEEK_ITEMS = 40


@dataclass(slots=True)
class Item:
    kind: str  # "scenario", "run", "firing"
    label: str
    time: str
    status: str  # a scenario's or run's status; "upcoming" for a firing
    status_label: str
    # The page it opens, resolved only for the items shown (a month of 1,000 automations is ~35,000 items).
    url_name: str
    url_args: tuple[Any, ...]
    movable: bool = False  # a draft or scheduled scenario, and the user may move it
    detail: str = ""
    count: int = 1  # firings of that automation that day

    @property
    def url(self) -> str:
        return reverse(self.url_name, args=self.url_args)

    @property
    def move_url(self) -> str:
        return reverse("dashboard:scenario-move", args=self.url_args) if self.movable else ""


@dataclass
class Day:
    date: dt.date
    in_range: bool  # False for the days of neighbouring months that complete the first and last weeks
    is_today: bool
    items: list[Item] = field(default_factory=list)
    more: int = 0


@dataclass
class Agenda:
    view: str
    anchor: dt.date
    start: dt.date
    end: dt.date
    weeks: list[list[Day]]
    title: str
    prev: dt.date
    next: dt.date
    can_move: bool


def _range(view: str, anchor: dt.date) -> tuple[dt.date, dt.date, dt.date, dt.date, str]:
    if view == WEEK:
        start = anchor - dt.timedelta(days=anchor.weekday())
        end = start + dt.timedelta(days=6)
        title = f"Week of {start:%d %b %Y}"
        return start, end, start - dt.timedelta(days=7), start + dt.timedelta(days=7), title
    first = anchor.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    start = first - dt.timedelta(days=first.weekday())
    last = following - dt.timedelta(days=1)
    end = last + dt.timedelta(days=6 - last.weekday())
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    return start, end, previous, following, f"{first:%B %Y}"


def _scenario_item(scenario: Scenario, *, can_move: bool) -> Item:
    return Item(
        kind="scenario",
        label=scenario.subject,
        time=f"{scenario.send_time:%H:%M}",
        status=scenario.status,
        status_label=scenario.get_status_display(),
        url_name="campaigns:scenario-detail",
        url_args=(scenario.pk,),
        movable=can_move and scenario.status in Scenario.EDITABLE,
        detail=scenario.campaign.name,
    )


# An entry of a day before it becomes an Item: (hour, minute, kind rank, label, index in that kind's rows). Only the
# shown entries are made into Items (a month of 1,000 automations is ~35,000 entries, a cell shows 6). Entries
# hold no object on purpose: tens of thousands of containers of objects set off the garbage collector's full
# passes over the whole heap, which cost the month view more than its own work (issue 17, calendar).
Entry = tuple[int, int, int, str, int]
SCENARIO, RUN, FIRING = 0, 1, 2


def _run_item(run: AutomationRun, local: dt.datetime) -> Item:
    return Item(
        kind="run",
        label=run.automation.name,
        time=f"{local:%H:%M}",
        status=run.status,
        status_label=f"run: {run.get_status_display().lower()}",
        url_name="automations:run-detail",
        url_args=(run.automation_id, run.pk),
    )


def _firing_item(firing: AutomationDay, local: dt.datetime) -> Item:
    count = firing.firings.count
    return Item(
        kind="firing",
        label=firing.automation.name,
        time=f"{local:%H:%M}",
        status="upcoming",
        status_label="next firing" if count == 1 else f"{count} firings",
        url_name="automations:detail",
        url_args=(firing.automation.pk,),
        detail="" if count == 1 else f"{count} that day",
        count=count,
    )


def build_agenda(*, user: Any, view: str, anchor: dt.date, now: dt.datetime | None = None) -> Agenda:
    # ~20,000 short-lived firings and entries: the collector held back (config/gc_tuning.py, docs/benchmarks.md).
    with collector_relaxed():
        return _build_agenda(user=user, view=view, anchor=anchor, now=now)


def _build_agenda(*, user: Any, view: str, anchor: dt.date, now: dt.datetime | None) -> Agenda:
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    view = WEEK if view == WEEK else MONTH
    start, end, previous, following, title = _range(view, anchor)
    can_move = roles.can_edit(user)
    limit = WEEK_ITEMS if view == WEEK else MONTH_ITEMS
    days: dict[dt.date, list[Entry]] = {start + dt.timedelta(days=i): [] for i in range((end - start).days + 1)}
    # Entries of a day not kept in `days` (the runs past each day's first `limit`, ranked by the database).
    unlisted: dict[dt.date, int] = dict.fromkeys(days, 0)

    scenarios = list(campaign_overview.scenarios_in_range(user=user, start=start, end=end))
    for index, scenario in enumerate(scenarios):
        at = scenario.send_time
        days[scenario.send_date].append((at.hour, at.minute, SCENARIO, scenario.subject, index))

    range_start = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    range_end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    runs = automation_overview.automation_runs_by_day(
        start=range_start, end=min(range_end, now), zone=zone, per_day=limit
    )
    run_times = [run.due_at.astimezone(zone) for run in runs.first]
    for index, (run, local) in enumerate(zip(runs.first, run_times, strict=True)):
        entries = days.get(local.date())
        if entries is not None:
            entries.append((local.hour, local.minute, RUN, run.automation.name, index))
    for day, count in runs.counts.items():
        if day in unlisted:
            unlisted[day] += max(0, count - limit)

    firings = automation_overview.automation_firings_in_range(start=range_start, end=range_end, now=now)
    firing_times = [firing.firings.first.astimezone(zone) for firing in firings]
    for index, local in enumerate(firing_times):
        entries = days.get(local.date())
        if entries is not None:
            entries.append((local.hour, local.minute, FIRING, firings[index].automation.name, index))

    def make(entry: Entry) -> Item:
        kind, index = entry[2], entry[4]
        if kind == SCENARIO:
            return _scenario_item(scenarios[index], can_move=can_move)
        if kind == RUN:
            return _run_item(runs.first[index], run_times[index])
        return _firing_item(firings[index], firing_times[index])

    today = timezone.localdate(now)
    cells = []
    for date, entries in days.items():
        shown = heapq.nsmallest(limit, entries)
        in_range = view == WEEK or date.month == anchor.month
        more = max(0, len(entries) - limit) + unlisted[date]
        cells.append(Day(date, in_range, date == today, [make(entry) for entry in shown], more))
    weeks = [cells[i : i + 7] for i in range(0, len(cells), 7)]
    return Agenda(view, anchor, start, end, weeks, title, previous, following, can_move)
