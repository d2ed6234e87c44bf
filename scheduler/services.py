"""The scheduler of ARCHITECTURE §3: the daily plan, the due-dispatch tick, and the beat schedule behind both.

The database is the truth. The daily plan writes one Emailer per scenario due before the next plan; the tick
claims the due ones with a conditional update and enqueues their run at once. No long Celery ETA is ever used
(Redis redelivers ETA tasks past the visibility timeout).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import selectors as campaign_selectors
from campaigns import services as campaign_services
from campaigns.models import Emailer
from delivery import services as delivery_services
from scheduler import selectors
from scheduler.models import Heartbeat, PlanRun

logger = logging.getLogger(__name__)

PLAN_TASK_NAME = "herald: daily plan"
TICK_TASK_NAME = "herald: dispatch tick"


def _plan_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def plan_day(*, day: dt.date, trigger: str = PlanRun.Trigger.MANUAL, now: dt.datetime | None = None) -> PlanRun:
    """Seed 000's 06:00 script: active campaigns whose timeline holds `day`, their scheduled scenarios due before
    the next plan (`selectors.scenarios_to_plan`), one Emailer each (`active=true, sent=false`), and campaigns
    whose timeline ended marked completed. Idempotent: a second run changes nothing.
    """
    now = now or timezone.now()
    planned = 0
    with transaction.atomic():
        for scenario in selectors.scenarios_to_plan(day=day):
            campaign_services.emailer_plan(scenario=scenario)
            planned += 1
        campaign_services.campaigns_complete_ended(day=day)
        run, created = PlanRun.objects.get_or_create(
            day=day, defaults={"trigger": trigger, "planned": planned, "finished_at": now}
        )
        if not created:
            PlanRun.objects.filter(pk=run.pk).update(planned=planned, finished_at=now)
            run.refresh_from_db()
    logger.info("plan for %s (%s): %s emailers", day, trigger, planned)
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


def dispatch_due(*, now: dt.datetime | None = None) -> list[int]:
    """Claim every due Emailer once and enqueue its run. Returns the claimed ids.

    Claiming is a conditional update per row (`dispatched_at IS NULL`), so two ticks racing each other (or a tick
    and a `dispatch_due` command) hand a row to a worker exactly once, on PostgreSQL and SQLite alike.
    """
    from campaigns.tasks import emailer_run_task

    now = now or timezone.now()
    claimed: list[int] = []
    with transaction.atomic():
        due = list(
            campaign_selectors.emailers_due(now=now)
            .select_for_update(skip_locked=True)
            .order_by("scheduled_at")
            .values_list("pk", flat=True)
        )
        for emailer_id in due:
            if Emailer.objects.filter(pk=emailer_id, active=True, dispatched_at__isnull=True).update(dispatched_at=now):
                claimed.append(emailer_id)
                emailer_run_task.delay_on_commit(emailer_id)
    if claimed:
        logger.info("dispatched emailers %s", claimed)
    return claimed


@dataclass(frozen=True)
class TickResult:
    caught_up: bool
    dispatched: int
    notified: int
    redispatched: int = 0
    reconciled: int = 0


def tick(*, now: dt.datetime | None = None) -> TickResult:
    """What beat runs every SCHEDULER_TICK_SECONDS: catch up a missed plan, dispatch due runs, tell creators of
    runs about to start, recover runs a dead worker dropped, and let the engine's watchdog re-drive stalled sends."""
    now = now or timezone.now()
    caught_up = plan_catch_up(now=now) is not None
    dispatched = dispatch_due(now=now)
    notified = campaign_services.emailers_notify_upcoming(now=now)
    redispatched = campaign_services.emailers_redispatch_stale(now=now)
    reconciled = campaign_services.emailers_reconcile()
    _engine().watchdog()
    heartbeat_record(name=TICK_HEARTBEAT, now=now)
    return TickResult(
        caught_up=caught_up,
        dispatched=len(dispatched),
        notified=notified,
        redispatched=len(redispatched),
        reconciled=reconciled,
    )


TICK_HEARTBEAT = "tick"


def heartbeat_record(*, name: str, now: dt.datetime | None = None) -> None:
    """Note that a periodic job ran to its end (scheduler/selectors.py `status` reads it)."""
    Heartbeat.objects.update_or_create(name=name, defaults={"seen_at": now or timezone.now()})


def _engine() -> Any:
    return delivery_services


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
    return {"daily_at": f"{at:%H:%M} {settings.TIME_ZONE}", "tick_seconds": every}
