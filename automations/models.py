"""Automations (seed 003 §5): a segment, an email template and a cron schedule that send by themselves.

An Automation is kept in step with one django-celery-beat PeriodicTask (automations.services); every firing is
one AutomationRun, unique per (automation, due time), that hands one delivery Send to the engine.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def default_timezone() -> str:
    return str(settings.TIME_ZONE)


class AutomationQuerySet(models.QuerySet["Automation"]):
    def active(self) -> AutomationQuerySet:
        return self.filter(is_active=True)


class Automation(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # SET_NULL, not PROTECT: deleting a segment or template pauses the automations that used it, with the reason
    # (automations.services.automations_pause_for_deleted), instead of refusing the delete in another app's page.
    segment = models.ForeignKey(
        "segments.Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="automations"
    )
    template = models.ForeignKey(
        "templates_app.MessageTemplate", on_delete=models.SET_NULL, null=True, blank=True, related_name="automations"
    )
    cron = models.CharField(max_length=100, help_text="Five fields: minute hour day-of-month month day-of-week.")
    timezone = models.CharField(max_length=64, default=default_timezone)
    is_active = models.BooleanField(default=True)
    # Open pixel / click redirects in this automation's emails (docs/tracking.md); copied into each run's Send.
    track_opens = models.BooleanField(default=True)
    track_clicks = models.BooleanField(default=True)
    paused_reason = models.CharField(max_length=500, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AutomationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start_date__isnull=True)
                | models.Q(end_date__isnull=True)
                | models.Q(end_date__gte=models.F("start_date")),
                name="automation_end_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def periodic_task_name(self) -> str:
        return f"automation-{self.pk}"


class AutomationRun(models.Model):
    """One firing of an automation. The unique (automation, due_at) makes a second firing of the same due time,
    from beat, a retry, `run_automation` or a button, fail its INSERT instead of sending again."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="runs")
    due_at = models.DateTimeField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    reason = models.CharField(max_length=500, blank=True)
    send = models.OneToOneField(
        "delivery.Send", on_delete=models.SET_NULL, null=True, blank=True, related_name="automation_run"
    )
    audience_size = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["automation", "due_at"], name="automation_run_due_uniq")]
        indexes = [
            # "Is a previous run still sending?" reads only the few running rows.
            models.Index(fields=["automation"], name="automation_run_running", condition=models.Q(status="running"))
        ]

    def __str__(self) -> str:
        return f"{self.automation_id} @ {self.due_at:%Y-%m-%d %H:%M} ({self.status})"


# Journeys (issue 16) live in their own module; imported here so Django's app registry and migrations see them.
from automations.journey_models import (  # noqa: E402
    Enrollment,
    EnrollmentStep,
    Journey,
    JourneySegmentMember,
    JourneyStep,
)

__all__ = [
    "Automation",
    "AutomationRun",
    "Enrollment",
    "EnrollmentStep",
    "Journey",
    "JourneySegmentMember",
    "JourneyStep",
]
