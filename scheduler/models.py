from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.db import models
from django_celery_beat.models import CrontabSchedule, PeriodicTask


class PlanRun(models.Model):
    """One run of the daily plan. Its presence for a day is how the tick knows the plan was not missed."""

    class Trigger(models.TextChoices):
        BEAT = "beat", "Daily schedule"
        CATCH_UP = "catch_up", "Caught up by the tick"
        MANUAL = "manual", "Command or admin"

    day = models.DateField(unique=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.BEAT)
    planned = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"Plan for {self.day}"


class Heartbeat(models.Model):
    """The last time a periodic job of the scheduler ran to its end (one row per job, updated in place).

    The status page and `manage.py status` read it to say when the tick last ran; the daily plan has PlanRun.
    """

    name = models.CharField(max_length=40, primary_key=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.seen_at:%Y-%m-%d %H:%M:%S}"


@functools.lru_cache(maxsize=4096)
def _parsed_crontab(
    minute: str, hour: str, day_of_week: str, day_of_month: str, month_of_year: str, tz: Any, tz_aware: bool
) -> Any:
    """Celery's crontab for one shape, built once (django-celery-beat's own `CrontabSchedule.schedule`)."""
    return CrontabSchedule(
        minute=minute,
        hour=hour,
        day_of_week=day_of_week,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        timezone=tz,
    ).schedule


class BeatTask(PeriodicTask):  # type: ignore[misc]  # django-celery-beat ships no type hints
    """A PeriodicTask as beat (scheduler.beat.HeraldScheduler) reads it: a crontab is parsed once per shape.

    django-celery-beat parses every crontab entry on every full load (two Celery `crontab` objects each, ~0.2 ms);
    automations share a few shapes (minute, hour, ..., zone), so 1,000 of them parse a few dozen times. A crontab
    schedule is immutable and holds no per-entry state (its `is_due` takes the entry's last run), so entries of one
    shape can share it. A proxy: no table, same rows, same manager and save.
    """

    class Meta:
        proxy = True

    @property
    def schedule(self) -> Any:
        if self.crontab_id is None or self.interval_id is not None:
            return super().schedule
        crontab = self.crontab
        return _parsed_crontab(
            crontab.minute,
            crontab.hour,
            crontab.day_of_week,
            crontab.day_of_month,
            crontab.month_of_year,
            crontab.timezone,
            getattr(settings, "DJANGO_CELERY_BEAT_TZ_AWARE", True),
        )
