from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from scheduler import services
from scheduler.models import PlanRun


@shared_task(time_limit=120, soft_time_limit=100)
def plan_today_task() -> int:
    """The daily plan (beat, crontab at SCHEDULER_DAILY_AT). Running it twice plans once."""
    day = timezone.localdate()
    return services.plan_day(day=day, trigger=PlanRun.Trigger.BEAT).planned


@shared_task(time_limit=30, soft_time_limit=25, ignore_result=True)
def tick_task() -> dict[str, int | bool]:
    """The dispatch tick (beat, every SCHEDULER_TICK_SECONDS). Two ticks at once claim each Emailer once."""
    result = services.tick()
    return result.as_dict()
