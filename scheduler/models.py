from __future__ import annotations

from django.db import models


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
