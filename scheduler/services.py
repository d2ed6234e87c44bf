"""The scheduler of ARCHITECTURE §3: a thin orchestrator of the daily plan and the due-dispatch tick, and the
beat schedule behind both. It decides WHEN; the apps below it decide WHAT.

The database is the truth: each app's plan writes its due rows (campaigns: one Emailer per scenario due before
the next plan), and each tick claims the due ones with a conditional update and enqueues their run at once. No
long Celery ETA is ever used (Redis redelivers ETA tasks past the visibility timeout).

How apps join in. The scheduler is the top layer, so no app below may import it (no `register_tick` they could
call from their AppConfig.ready). Instead the apps are named in settings, as dotted paths the scheduler imports
(imports keep pointing down):

    SCHEDULER_PLAN_HOOKS = ["campaigns.services.campaigns_plan_day"]
        hook(*, day, now) -> int                    runs planned for `day`; idempotent
    SCHEDULER_TICK_HOOKS = ["campaigns.services.campaigns_tick", "delivery.services.watchdog"]
        hook(*, now) -> int | Mapping[str, int]     counts by name (an int is reported under the hook's name)

A plan runs its hooks in one transaction with its PlanRun row; a tick runs its hooks in order, then records its
heartbeat. The scheduler writes only its own tables (PlanRun, Heartbeat, the beat entries). Automations and
journeys join the tick by adding a line to SCHEDULER_TICK_HOOKS, not by changing this module.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from campaigns import selectors as campaign_selectors
from scheduler.models import Heartbeat, PlanRun

logger = logging.getLogger(__name__)

PLAN_TASK_NAME = "herald: daily plan"
TICK_TASK_NAME = "herald: dispatch tick"


def _hooks(setting: str) -> list[tuple[str, Callable[..., Any]]]:
    """The hooks named in a setting, resolved on each run (so a test's `settings` override, or a patched
    function, is what runs)."""
    return [(path, import_string(path)) for path in getattr(settings, setting)]


def _plan_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def plan_day(*, day: dt.date, trigger: str = PlanRun.Trigger.MANUAL, now: dt.datetime | None = None) -> PlanRun:
    """Seed 000's 06:00 script: every SCHEDULER_PLAN_HOOKS hook plans `day` (campaigns: one Emailer per scheduled
    scenario due before the next plan, and campaigns whose timeline ended marked completed), and the day's
    PlanRun records the total. Idempotent: a second run changes nothing.
    """
    now = now or timezone.now()
    planned = 0
    with transaction.atomic():
        for _path, hook in _hooks("SCHEDULER_PLAN_HOOKS"):
            planned += int(hook(day=day, now=now))
        run, created = PlanRun.objects.get_or_create(
            day=day, defaults={"trigger": trigger, "planned": planned, "finished_at": now}
        )
        if not created:
            PlanRun.objects.filter(pk=run.pk).update(planned=planned, finished_at=now)
            run.refresh_from_db()
    logger.info("plan for %s (%s): %s planned", day, trigger, planned)
    return run


def plan_catch_up(*, now: dt.datetime | None = None) -> PlanRun | None:
    """When today's plan time has passed and no PlanRun exists for today (beat was down), run it now."""
    now = now or timezone.now()
    today = now.astimezone(_plan_zone()).date()
    if now < campaign_selectors.plan_at(day=today) or PlanRun.objects.filter(day=today).exists():
        return None
    try:
        return plan_day(day=today, trigger=PlanRun.Trigger.CATCH_UP, now=now)
    except IntegrityError:  # a concurrent tick or the beat task wrote it first; its plan is as good as ours
        return None


@dataclass(frozen=True)
class TickResult:
    """What one tick did: whether it caught up a missed plan, and the counts its hooks reported by name
    (`result.dispatched`, `result.watchdog`, ...; a name no hook reported reads 0)."""

    caught_up: bool
    counts: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str) -> int:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.counts.get(name, 0)

    def as_dict(self) -> dict[str, int | bool]:
        return {"caught_up": self.caught_up, **self.counts}


def tick(*, now: dt.datetime | None = None) -> TickResult:
    """What beat runs every SCHEDULER_TICK_SECONDS: catch up a missed plan, then every SCHEDULER_TICK_HOOKS hook
    in order (campaigns: dispatch due runs, notify, recover dropped runs, replay lost events; then the engine's
    watchdog re-drives stalled sends), then the heartbeat the status page reads."""
    now = now or timezone.now()
    caught_up = plan_catch_up(now=now) is not None
    counts: dict[str, int] = {}
    for path, hook in _hooks("SCHEDULER_TICK_HOOKS"):
        reported = hook(now=now)
        if isinstance(reported, Mapping):
            counts.update({name: int(value) for name, value in reported.items()})
        else:
            counts[path.rpartition(".")[2]] = int(reported or 0)
    heartbeat_record(name=TICK_HEARTBEAT, now=now)
    return TickResult(caught_up=caught_up, counts=counts)


TICK_HEARTBEAT = "tick"


def heartbeat_record(*, name: str, now: dt.datetime | None = None) -> None:
    """Note that a periodic job ran to its end (scheduler/selectors.py `status` reads it)."""
    # Every second from the tick: one UPDATE, and the INSERT only the first time (update_or_create would read first).
    at = now or timezone.now()
    if not Heartbeat.objects.filter(name=name).update(seen_at=at):
        Heartbeat.objects.get_or_create(name=name, defaults={"seen_at": at})


def schedule_sync() -> dict[str, Any]:
    """Create or update the two beat entries from settings (django-celery-beat's DatabaseScheduler reads them).

    The daily plan is a crontab at SCHEDULER_DAILY_AT in TIME_ZONE; the tick an interval of
    SCHEDULER_TICK_SECONDS seconds. Safe to run on every start: beat runs it itself when it starts
    (config/celery.py, `beat_init`), so a deploy has no step to forget; `manage.py sync_schedule` stays for ops.
    """
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    at = campaign_selectors.daily_plan_time()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(at.minute),
        hour=str(at.hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    # Beat's interval has whole seconds; anything under a second would be a busy loop.
    every = max(1, round(float(settings.SCHEDULER_TICK_SECONDS)))
    interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.SECONDS)
    with transaction.atomic():
        PeriodicTask.objects.update_or_create(
            name=PLAN_TASK_NAME,
            defaults={
                "task": "scheduler.tasks.plan_today_task",
                "crontab": crontab,
                "interval": None,
                "enabled": True,
                "kwargs": json.dumps({}),
                "description": "Seed 000's daily plan: one Emailer per scenario due today.",
            },
        )
        PeriodicTask.objects.update_or_create(
            name=TICK_TASK_NAME,
            defaults={
                "task": "scheduler.tasks.tick_task",
                "interval": interval,
                "crontab": None,
                "enabled": True,
                "kwargs": json.dumps({}),
                # A tick older than its interval is stale: the next one does the same work.
                "expire_seconds": max(every * 5, 5),
                "description": "Claims due Emailers, catches up a missed plan, notifies, runs the engine watchdog.",
            },
        )
    daily = _daily_tasks_sync()
    return {"daily_at": f"{at:%H:%M} {settings.TIME_ZONE}", "tick_seconds": every, "daily_tasks": daily}


def _daily_tasks_sync() -> list[str]:
    """One crontab entry per SCHEDULER_DAILY_TASKS item `(name, task path, "HH:MM")` (the retention purge, ...):
    the apps above name their daily jobs in settings, as for the tick hooks."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    written = []
    for name, task, daily_at in getattr(settings, "SCHEDULER_DAILY_TASKS", []):
        hour, _, minute = str(daily_at).strip().partition(":")
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(int(minute or 0)),
            hour=str(int(hour)),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "crontab": crontab, "interval": None, "enabled": True, "kwargs": json.dumps({})},
        )
        written.append(f"{name} at {daily_at}")
    return written
