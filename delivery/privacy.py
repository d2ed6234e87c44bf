"""What the privacy app (the top layer) asks of delivery's tables: one person's deliveries, tracking rows, webhook
events and outbox copies, exported or erased, and the retention purge. Reads and writes stay here, by the models
that own them; privacy.services orchestrates them across apps (docs/privacy.md).

TrackingEvent is looked up by name, so this module also works on a tree where it does not exist yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from delivery.models import Delivery, OutboxMessage, WebhookEvent

RETENTION_BATCH = 5000


def _tracking_model() -> type[models.Model] | None:
    try:
        return apps.get_model("delivery", "TrackingEvent")
    except LookupError:
        return None


def _delivery_ids(*, contact_id: int | None, email: str) -> list[int]:
    rows = Delivery.objects.filter(email=email)
    if contact_id is not None:
        rows = Delivery.objects.filter(Q(contact_id=contact_id) | Q(email=email))
    return list(rows.values_list("pk", flat=True))


def _payload_mentions(email: str) -> Q:
    return Q(payload_text__icontains=email)


def _webhook_events(*, delivery_ids: list[int], email: str) -> models.QuerySet[WebhookEvent]:
    return WebhookEvent.objects.annotate(payload_text=Cast("payload", TextField())).filter(
        Q(delivery_id__in=delivery_ids) | _payload_mentions(email)
    )


def person_export(*, contact_id: int | None, email: str) -> dict[str, list[Any]]:
    """Every delivery (with its send's subject), tracking row, provider event and outbox copy of one person."""
    ids = _delivery_ids(contact_id=contact_id, email=email)
    deliveries = list(
        Delivery.objects.filter(pk__in=ids)
        .order_by("pk")
        .values(
            "id",
            "send_id",
            "send__subject",
            "email",
            "status",
            "sent_at",
            "delivered_at",
            "opened_at",
            "clicked_at",
            "last_error",
        )
    )
    tracking: list[dict[str, Any]] = []
    model = _tracking_model()
    if model is not None:
        tracking = list(
            model._default_manager.filter(delivery_id__in=ids)
            .order_by("pk")
            .values("id", "delivery_id", "kind", "source", "url", "classification", "user_agent", "ip", "created_at")
        )
    events = list(
        _webhook_events(delivery_ids=ids, email=email)
        .order_by("pk")
        .values("id", "event_type", "delivery_id", "outcome", "received_at", "payload")
    )
    outbox = list(
        OutboxMessage.objects.filter(Q(delivery_id__in=ids) | Q(to__iexact=email))
        .order_by("pk")
        .values("id", "delivery_id", "to", "subject", "body_text", "created_at")
    )
    return {"deliveries": deliveries, "tracking": tracking, "webhook_events": events, "outbox": outbox}


def person_erase(*, contact_id: int | None, email: str) -> dict[str, int]:
    """Erase one person from delivery's tables, keeping what reports count: each Delivery row stays (its status
    and timestamps) with the address blanked; tracking rows and outbox copies are deleted; the payload of each
    provider event about them is replaced by a stub (the row stays, so a redelivery is still recognised)."""
    ids = _delivery_ids(contact_id=contact_id, email=email)
    counts: dict[str, int] = {}
    model = _tracking_model()
    counts["tracking_events"] = model._default_manager.filter(delivery_id__in=ids).delete()[0] if model else 0
    counts["outbox_messages"] = OutboxMessage.objects.filter(Q(delivery_id__in=ids) | Q(to__iexact=email)).delete()[0]
    events = _webhook_events(delivery_ids=ids, email=email)
    counts["webhook_events"] = 0
    for event in events.only("pk", "event_type"):
        WebhookEvent.objects.filter(pk=event.pk).update(payload={"type": event.event_type, "erased": True})
        counts["webhook_events"] += 1
    counts["deliveries"] = Delivery.objects.filter(pk__in=ids).update(email="", last_error="")
    return counts


def retention_purge(*, before: dt.datetime, dry_run: bool = False) -> dict[str, int]:
    """Delete tracking rows, outbox copies and provider events older than `before`, in batches of
    RETENTION_BATCH ids (each its own short statement, so no long lock and no huge transaction)."""
    targets: list[tuple[str, models.QuerySet[Any]]] = [
        ("outbox_messages", OutboxMessage.objects.filter(created_at__lt=before)),
        ("webhook_events", WebhookEvent.objects.filter(received_at__lt=before)),
    ]
    model = _tracking_model()
    if model is not None:
        targets.insert(0, ("tracking_events", model._default_manager.filter(created_at__lt=before)))
    counts: dict[str, int] = {}
    for name, rows in targets:
        if dry_run:
            counts[name] = rows.count()
            continue
        counts[name] = 0
        while ids := list(rows.order_by("pk").values_list("pk", flat=True)[:RETENTION_BATCH]):
            counts[name] += rows.model._default_manager.filter(pk__in=ids).delete()[0]
    return counts
