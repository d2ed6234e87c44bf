from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def track_opens_default() -> bool:
    """HERALD_TRACK_OPENS, read when a Send is created (False turns the pixel off everywhere)."""
    return bool(getattr(settings, "HERALD_TRACK_OPENS", True))


def track_clicks_default() -> bool:
    """HERALD_TRACK_CLICKS, read when a Send is created (False turns link rewriting off everywhere)."""
    return bool(getattr(settings, "HERALD_TRACK_CLICKS", True))


class Send(models.Model):
    """One message sent to one audience: what a campaign's Emailer (or an automation run) hands the engine.

    The engine knows nothing of campaigns: it snapshots an audience into Delivery rows, sends them in pages
    and reports back through the Send's status and counters.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        PAUSED = "paused", "Paused"
        CANCELLED = "cancelled", "Cancelled"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    label = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=300)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    template = models.ForeignKey(
        "templates_app.MessageTemplate", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    from_email = models.CharField(max_length=254, blank=True)
    # Copied at creation from the global settings AND the owner's switch (campaign, automation, journey): a Send
    # renders its pixel and rewrites its links only when these are on, so a change later never alters a send.
    track_opens = models.BooleanField(default=track_opens_default)
    track_clicks = models.BooleanField(default=track_clicks_default)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=500, blank=True)
    total = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    # Pages [0, next_page) have been handed to the broker. Only a window of them is queued at a time (each
    # committed page releases the next one), so sends share the workers fairly and the queue stays short.
    next_page = models.PositiveIntegerField(default=0)
    # Bumped by "retry failed" so the re-sent pages get fresh Idempotency-Keys (the old ones would replay).
    retry_round = models.PositiveSmallIntegerField(default=0)
    # The watchdog re-enqueues the queued pages of a `sending` send whose progress stalled (lost broker messages).
    last_progress_at = models.DateTimeField(null=True, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    # A snapshot in two parts (`send_start` writes the first page, `send_snapshot_rest` the rest while it sends):
    # the rest's audience as one self-contained SELECT of contact ids, and the first part's last contact id. Blank
    # once the snapshot is complete; until then `total` counts the rows written so far and the Send cannot finish.
    snapshot_rest_sql = models.TextField(blank=True)
    snapshot_after = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        # Only `status` is indexed (the watchdog's sending sends are few): every page updates the counters,
        # `next_page` and `last_progress_at`, and with none of them in an index those updates are HOT (no index
        # entry per update; fillfactor 50 on PostgreSQL leaves room in the row's page, migration 0005).
        indexes = [models.Index(fields=["status"], name="send_status")]

    def __str__(self) -> str:
        return self.label or f"Send #{self.pk}"


class SendNotice(models.Model):
    """An event of a Send for the layers above (`delivery.events`), written in the same transaction as the change
    it reports and marked published once every subscriber took it. A process that dies between the commit and the
    publish leaves it unpublished, and the tick publishes it again (`notices_redeliver`), so the owners' records
    (a Scenario's status, an Emailer closed, an AutomationRun's counts) are written by their handler, never
    repaired by a reconciler. Subscribers are conditional, so a notice published twice changes nothing."""

    send = models.ForeignKey(Send, on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.CharField(max_length=10)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        # Only the unpublished ones are ever looked for (the tick's redelivery): published rows leave the index.
        indexes = [
            models.Index(fields=["created_at"], name="sendnotice_unpublished", condition=models.Q(published_at=None))
        ]

    def __str__(self) -> str:
        return f"{self.event} of send {self.send_id}"


class Delivery(models.Model):
    """One recipient of one Send. The row is the truth about whether that email went out."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Complained"
        CANCELLED = "cancelled", "Cancelled"

    # No index of its own: the unique (send, contact) index starts with send_id and serves its lookups, and one
    # index fewer is one entry fewer to write per recipient in the snapshot and per row marked sent.
    send = models.ForeignKey(Send, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    # No database-level FK (db_constraint=False), as for ContactAttribute: the deferred per-row RI check at COMMIT
    # locks every audience contact (FOR KEY SHARE, a WAL record each) and cost as much as the snapshot's INSERT
    # itself (1.3 s of 2.6 s for 100k recipients), all of it before the first email. The snapshot reads the ids
    # from contacts_contact in the same statement, Django's cascade deletes a deleted contact's deliveries, and a
    # row whose contact vanished anyway (deleted while its send was being snapshotted) is cancelled at its page.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="deliveries", db_constraint=False
    )
    email = models.CharField(max_length=254)
    page = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    provider_message_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Written by the provider's webhooks (delivery.services.webhooks): the first delivery, open and click.
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["send", "contact"], name="delivery_send_contact_uniq")]
        # Partial indexes: a row leaves them when it is sent, so sending a page touches only the primary key and
        # the unique index, and the engine's questions (this page's queued rows, the pages still queued, any
        # row left?) read only what is still to do. Counts by status come from Send's counters.
        indexes = [
            models.Index(fields=["send", "page"], name="delivery_queued_page", condition=models.Q(status="queued")),
            models.Index(fields=["send"], name="delivery_failed", condition=models.Q(status="failed")),
            # Webhook events name the delivery by the provider's id. Partial: queued and failed rows (no id) stay
            # out, so the snapshot writes no entry here; each sent row costs one entry, the price of matching.
            models.Index(
                fields=["provider_message_id"],
                name="delivery_provider_id",
                condition=~models.Q(provider_message_id=""),
            ),
            # Engagement conditions of rules segments (delivery/segment_conditions.py): "opened / clicked in the
            # last N days", "bounced" are EXISTS by contact over these. Partial: a row enters only when a person
            # opens, clicks or it bounces, so the snapshot and the send path write no entry here.
            models.Index(
                fields=["contact", "opened_at"],
                name="delivery_contact_opened",
                condition=models.Q(opened_at__isnull=False),
            ),
            models.Index(
                fields=["contact", "clicked_at"],
                name="delivery_contact_clicked",
                condition=models.Q(clicked_at__isnull=False),
            ),
            models.Index(
                fields=["contact", "sent_at"], name="delivery_contact_bounced", condition=models.Q(status="bounced")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class TrackingEvent(models.Model):
    """One open or click as it happened (the raw event is kept), with its human-or-machine class and the rule
    that classified it (delivery/classify.py). `Delivery.opened_at` / `clicked_at` are the first HUMAN ones."""

    class Kind(models.TextChoices):
        OPEN = "open", "Open"
        CLICK = "click", "Click"

    class Classification(models.TextChoices):
        HUMAN = "human", "Human"
        MACHINE = "machine", "Machine"

    class Source(models.TextChoices):
        PIXEL = "pixel", "Open pixel"
        REDIRECT = "redirect", "Click redirect"
        WEBHOOK = "webhook", "Provider webhook"

    # No database-level FKs (db_constraint=False): the flush inserts thousands of events at a time, and each RI
    # check would take a FOR KEY SHARE lock on a Delivery row the send path may be updating. Django's cascade
    # still deletes a delivery's events with it (and a send's with the send).
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="tracking_events", db_constraint=False
    )
    # Denormalised from the delivery, so per-send reports aggregate with one index range scan.
    send = models.ForeignKey(
        Send, on_delete=models.CASCADE, related_name="tracking_events", db_constraint=False, db_index=False
    )
    kind = models.CharField(max_length=5, choices=Kind.choices)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.PIXEL)
    # The original link for clicks (blank for opens) and its position among the message's tracked links.
    url = models.TextField(blank=True)
    link_index = models.PositiveSmallIntegerField(null=True, blank=True)
    classification = models.CharField(max_length=7, choices=Classification.choices, default=Classification.HUMAN)
    # Short code of the rule that classified the event as machine ("bot-ua", "apple-mpp", "image-proxy",
    # "scanner-burst", "head-request", "click-before-open"); blank for human.
    rule = models.CharField(max_length=30, blank=True)
    method = models.CharField(max_length=8, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # When it happened (the request's time, not the flush's).
    created_at = models.DateTimeField(default=timezone.now)
    # Unique per request (made by the endpoint, or derived from the webhook's id): a buffer flushed twice after a
    # crash inserts each event once (ON CONFLICT DO NOTHING).
    event_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["send", "kind", "created_at"], name="trackingevent_send_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of delivery {self.delivery_id} ({self.classification})"


class WebhookEvent(models.Model):
    """One event a provider posted to a webhook, kept once by the provider's event id (Svix's `svix-id`).

    The unique constraint is what makes a redelivery a no-op: the event is inserted and applied in one
    transaction, so a second delivery of the same id (even a concurrent one) inserts nothing and changes nothing.
    """

    class Provider(models.TextChoices):
        RESEND = "resend", "Resend"

    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.RESEND)
    event_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=60)
    provider_message_id = models.CharField(max_length=100, blank=True)
    # The Delivery the event matched, if any (an id, not a FK: deliveries are deleted with their contact, and
    # the event log outlives them).
    delivery_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    # What applying the event did ("delivered", "contact suppressed (bounced)", "ignored: unknown type" ...).
    outcome = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhookevent_provider_event_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"


class OutboxMessage(models.Model):
    """An email kept by the `outbox` transport instead of being sent (the embedded default)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    to = models.CharField(max_length=254)
    from_email = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
