from __future__ import annotations

from django.conf import settings
from django.db import models


class Campaign(models.Model):
    """A timeline (start..end) with an audience: the campaign's batch, or a segment when one is chosen."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    start_date = models.DateField()
    end_date = models.DateField()
    timezone = models.CharField(max_length=64, default="UTC")
    batch = models.OneToOneField("contacts.Batch", on_delete=models.PROTECT, related_name="campaign")
    segment = models.ForeignKey(
        "segments.Segment", on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # Off switches per campaign for the open pixel and the click redirects (HERALD_TRACK_OPENS / _CLICKS = False
    # turn them off everywhere); copied into each scenario's Send when it is created.
    track_opens = models.BooleanField(default=True, help_text="Add an open-tracking pixel to this campaign's emails.")
    track_clicks = models.BooleanField(
        default=True, help_text="Rewrite this campaign's links to count clicks (unsubscribe and view links excepted)."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")), name="campaign_timeline_order"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Scenario(models.Model):
    """One message of a campaign at a date and time."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    EDITABLE = (Status.DRAFT, Status.SCHEDULED)

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="scenarios")
    subject = models.CharField(max_length=300)
    content = models.TextField(blank=True)
    template = models.ForeignKey(
        "templates_app.MessageTemplate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    send_date = models.DateField()
    send_time = models.TimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    contacts_served = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["send_date", "send_time", "id"]
        indexes = [models.Index(fields=["send_date", "status"], name="scenario_date_status")]

    def __str__(self) -> str:
        return self.subject

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE


class Emailer(models.Model):
    """Seed 000's record of one scheduled run of a scenario: written by the daily plan, claimed at its time."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="emailers")
    scenario = models.OneToOneField(Scenario, on_delete=models.CASCADE, related_name="emailer")
    batch = models.ForeignKey("contacts.Batch", on_delete=models.PROTECT, related_name="+")
    scheduled_at = models.DateTimeField()
    active = models.BooleanField(default=True)
    sent = models.BooleanField(default=False)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    send = models.OneToOneField(
        "delivery.Send", on_delete=models.SET_NULL, null=True, blank=True, related_name="emailer"
    )
    # Set once when the creator was told the run is about to start (the tick claims it like a due row).
    notified_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["scheduled_at"]
        indexes = [
            models.Index(
                fields=["scheduled_at"], condition=models.Q(active=True, dispatched_at__isnull=True), name="emailer_due"
            )
        ]

    def __str__(self) -> str:
        return f"Emailer #{self.pk} for {self.scenario}"
