"""Reports (issue 17): what a send did, measured once and kept, so a report page of a million recipients reads a
row instead of scanning millions of tracking events.

Nothing here is the truth about a recipient: Delivery, TrackingEvent and FunnelEvent are. SendReport is derived
from them (recomputed, never incremented by hand), ConversionGoal is a setting, UnsubscribeRecord a link the
unsubscribe endpoint does not keep elsewhere.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ConversionGoal(models.Model):
    """Which funnel stage counts as a conversion for a campaign, an automation or a journey, and for how long after
    a message. An owner without a row uses HERALD_CONVERSION_STAGE and HERALD_ATTRIBUTION_DAYS."""

    class Owner(models.TextChoices):
        CAMPAIGN = "campaign", "Campaign"
        AUTOMATION = "automation", "Automation"
        JOURNEY = "journey", "Journey"

    # An id, not a FK per owner type: three owner tables in apps below this one, and a goal of a deleted owner is
    # harmless (nothing reads it).
    owner_type = models.CharField(max_length=12, choices=Owner.choices)
    owner_id = models.BigIntegerField()
    stage = models.CharField(max_length=100)
    window_days = models.PositiveSmallIntegerField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner_type", "owner_id"], name="conversion_goal_owner_uniq")]

    def __str__(self) -> str:
        return f"{self.owner_type} {self.owner_id}: {self.stage} within {self.window_days} days"


class UnsubscribeRecord(models.Model):
    """A contact unsubscribed through the link of this delivery (written by the unsubscribe endpoint's hook).

    The contact row only keeps `unsubscribed_at`; which email's link did it is known only at the click, from the
    signed token, so it is recorded here once per delivery.
    """

    delivery_id = models.BigIntegerField(unique=True)
    send_id = models.BigIntegerField()
    contact_id = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["send_id"], name="unsubscribe_record_send")]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} unsubscribed"


class SendReport(models.Model):
    """The figures of one Send, computed set-based from its rows (`reports.compute.send_report_compute`).

    Unique figures count deliveries (a recipient who opened twice is one open); event figures count requests.
    `hours` holds the time series as [hour after the send started, human opens, machine opens, human clicks,
    machine clicks]; `links` as [url, human clicks, unique human clicks, machine clicks].
    """

    send = models.OneToOneField("delivery.Send", on_delete=models.CASCADE, related_name="report")
    computed_at = models.DateTimeField(null=True, blank=True)
    # Set when a worker was asked to recompute; cleared by the computation. Keeps page views and ticks from
    # queueing the same heavy computation again and again.
    refresh_requested_at = models.DateTimeField(null=True, blank=True)
    # How long the last computation took: a costly report is refreshed less often (reports.services.COST_FACTOR).
    compute_seconds = models.FloatField(default=0)
    recipients = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)
    unsubscribed = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    opened_machine = models.PositiveIntegerField(default=0)
    clicked_machine = models.PositiveIntegerField(default=0)
    open_events = models.PositiveIntegerField(default=0)
    click_events = models.PositiveIntegerField(default=0)
    machine_open_events = models.PositiveIntegerField(default=0)
    machine_click_events = models.PositiveIntegerField(default=0)
    conversions = models.PositiveIntegerField(default=0)
    conversions_view = models.PositiveIntegerField(default=0)
    # The amounts (contacts.FunnelEvent.amount, HERALD_CURRENCY) of the conversions above, click and view apart;
    # events without an amount add nothing.
    revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    revenue_view = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    goal_stage = models.CharField(max_length=100, blank=True)
    window_days = models.PositiveSmallIntegerField(default=0)
    hours = models.JSONField(default=list)
    links = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["computed_at"], name="send_report_computed")]

    def __str__(self) -> str:
        return f"Report of send {self.send_id}"
