"""Resend's webhooks: verify the Svix signature, store each event once by its id, apply it to its Delivery.

Applying an event is a conditional update (the first delivery, open and click win; a bounce or complaint only
changes a row that was sent), so events arriving out of order or twice never move a row backwards. A hard bounce
or a complaint also suppresses the contact: its status leaves `subscribed`, and the send snapshot (which takes
only subscribed contacts) and the page send (which re-checks the status) leave it out from then on.
"""

from __future__ import annotations

import binascii
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from contacts import services as contact_services
from contacts.models import Contact
from delivery.models import Delivery, TrackingEvent, WebhookEvent
from delivery.services.tracking_store import Hit, tracking_hits_ingest

logger = logging.getLogger("delivery.webhooks")

DeliveryStatus = Delivery.Status

# Resend signs with Svix, whose headers are the Standard Webhooks ones under another prefix.
_HEADERS = {"webhook-id": "svix-id", "webhook-timestamp": "svix-timestamp", "webhook-signature": "svix-signature"}
# Bounce types Resend reports that may succeed later; anything else (Permanent, Undetermined, a new name) is
# treated as hard: one more attempt at a dead address costs sender reputation, a missed soft bounce costs little.
SOFT_BOUNCE_TYPES = frozenset({"transient", "soft"})


class WebhookNotConfigured(Exception):
    """RESEND_WEBHOOK_SECRET is unset or not a valid signing secret."""


class WebhookRejected(Exception):
    """The signature does not verify, a header is missing, or the timestamp is outside the tolerance."""


class WebhookBadPayload(Exception):
    """The body is signed but is not a JSON object."""


def webhook_event_receive(*, body: bytes, headers: Mapping[str, str]) -> bool:
    """Verify a Resend webhook request, then store and apply its event once.

    Returns True if this call stored the event, False for a redelivery of an id already stored (a no-op).
    Raises WebhookNotConfigured, WebhookRejected or WebhookBadPayload; nothing is stored then.
    """
    secret = str(getattr(settings, "RESEND_WEBHOOK_SECRET", "") or "")
    if not secret:
        raise WebhookNotConfigured("RESEND_WEBHOOK_SECRET is not set: webhooks cannot be verified.")
    try:
        verifier = Webhook(secret)
    except (binascii.Error, ValueError, EmptyWebhookSecretError) as exc:
        raise WebhookNotConfigured("RESEND_WEBHOOK_SECRET is not a valid signing secret (whsec_...).") from exc
    lowered = {k.lower(): v for k, v in headers.items()}
    standard = {name: lowered.get(svix) or lowered.get(name, "") for name, svix in _HEADERS.items()}
    try:
        payload = verifier.verify(body, standard)
    except WebhookVerificationError as exc:
        raise WebhookRejected(str(exc)) from exc
    except ValueError as exc:  # signed, but not JSON (json.JSONDecodeError, UnicodeDecodeError)
        raise WebhookBadPayload("The body is not JSON.") from exc
    if not isinstance(payload, dict):
        raise WebhookBadPayload("The body is not a JSON object.")
    return _event_store_and_apply(event_id=standard["webhook-id"], payload=payload)


def _event_store_and_apply(*, event_id: str, payload: dict[str, Any]) -> bool:
    event_type = str(payload.get("type") or "")[:60]
    raw_data = payload.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    message_id = str(data.get("email_id") or "")[:100]
    # One transaction: if applying fails, the event is not kept either, and Resend's retry applies it then.
    with transaction.atomic():
        try:
            # A concurrent redelivery waits here on the unique index until the first commits, then conflicts.
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    provider=WebhookEvent.Provider.RESEND,
                    event_id=event_id[:100],
                    event_type=event_type,
                    provider_message_id=message_id,
                    payload=payload,
                )
        except IntegrityError:
            logger.info("webhook %s: redelivery of a stored event, ignored", event_id)
            return False
        event.delivery_id, event.outcome = _apply(event_type, message_id, data, _event_time(payload), event_id)
        event.save(update_fields=["delivery_id", "outcome"])
    return True


def _event_time(payload: dict[str, Any]) -> datetime:
    raw = payload.get("created_at")
    try:
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        return timezone.now()
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _apply(
    event_type: str, message_id: str, data: dict[str, Any], at: datetime, event_id: str = ""
) -> tuple[int | None, str]:
    """Apply one event; returns the matched delivery's id and what was done."""
    row = None
    if message_id:
        # `.exclude(...="")` repeats the partial index's predicate, so a generic plan can use it too.
        row = (
            Delivery.objects.filter(provider_message_id=message_id)
            .exclude(provider_message_id="")
            .values("pk", "contact_id", "send_id")
            .first()
        )
    delivery_id: int | None = row["pk"] if row else None
    contact_id: int | None = row["contact_id"] if row else None
    rows = Delivery.objects.filter(pk=delivery_id) if delivery_id is not None else Delivery.objects.none()
    sent = DeliveryStatus.SENT

    if event_type == "email.delivered":
        changed = rows.filter(delivered_at__isnull=True).update(delivered_at=at)
        return delivery_id, _said("delivered", delivery_id, changed)
    if event_type == "email.delivery_delayed":
        changed = rows.filter(status=sent, delivered_at__isnull=True).update(
            last_error="Delivery delayed: the receiving server has not accepted it yet (the provider retries)"
        )
        return delivery_id, _said("delayed", delivery_id, changed)
    if event_type in ("email.opened", "email.clicked"):
        return delivery_id, _engagement(event_type, row, data, at, event_id)
    if event_type == "email.bounced":
        raw_bounce = data.get("bounce")
        bounce: dict[str, Any] = raw_bounce if isinstance(raw_bounce, dict) else {}
        kind = str(bounce.get("type") or "").strip()
        hard = kind.lower() not in SOFT_BOUNCE_TYPES
        detail = " ".join(str(bounce.get(k) or "") for k in ("type", "subType", "message")).strip()
        reason = f"{'Hard' if hard else 'Soft'} bounce: {detail or 'no detail given'}"[:500]
        changed = rows.filter(status=sent).update(status=DeliveryStatus.BOUNCED, last_error=reason)
        outcome = _said("bounced", delivery_id, changed)
        if hard:
            outcome += _suppress(contact_id, data, Contact.Status.BOUNCED)
        return delivery_id, outcome
    if event_type == "email.complained":
        changed = rows.filter(status__in=[sent, DeliveryStatus.BOUNCED]).update(
            status=DeliveryStatus.COMPLAINED, last_error="The recipient marked this email as spam"
        )
        outcome = _said("complained", delivery_id, changed) + _suppress(contact_id, data, Contact.Status.COMPLAINED)
        return delivery_id, outcome
    return delivery_id, f"ignored: type {event_type or '(none)'} is not handled"


def _engagement(
    event_type: str, row: Mapping[str, Any] | None, data: dict[str, Any], at: datetime, event_id: str
) -> str:
    """A provider open or click is a TrackingEvent like the pixel's and the redirect's: classified the same way,
    and only a human one sets the delivery's first open / click (services/tracking.py)."""
    kind = TrackingEvent.Kind.OPEN if event_type == "email.opened" else TrackingEvent.Kind.CLICK
    what = "opened" if kind == TrackingEvent.Kind.OPEN else "clicked"
    if row is None:
        return f"{what}: no delivery has this message id"
    raw = data.get("click" if kind == TrackingEvent.Kind.CLICK else "open")
    detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
    hit = Hit(
        key=uuid.uuid5(uuid.NAMESPACE_URL, f"resend-webhook:{event_id}").hex,
        kind=kind,
        source=TrackingEvent.Source.WEBHOOK,
        delivery_id=int(row["pk"]),
        send_id=int(row["send_id"]),
        at=at.timestamp(),
        # No method: the provider saw the request, Herald did not (an absent user agent is then "unknown").
        method="",
        user_agent=str(detail.get("userAgent") or "")[:500],
        ip=str(detail.get("ipAddress") or "") or None,
        url=str(detail.get("link") or "") if kind == TrackingEvent.Kind.CLICK else "",
    )
    tracking_hits_ingest(hits=[hit])
    event = TrackingEvent.objects.filter(event_key=uuid.UUID(hit.key)).values("classification", "rule").first()
    if event is None:
        return f"{what}: already recorded"
    if event["classification"] == TrackingEvent.Classification.MACHINE:
        return f"{what}: machine ({event['rule']})"
    return what


def _said(what: str, delivery_id: int | None, changed: int) -> str:
    if delivery_id is None:
        return f"{what}: no delivery has this message id"
    return what if changed else f"{what}: already recorded"


def _suppress(contact_id: int | None, data: dict[str, Any], status: str) -> str:
    """Take the contact off every later send. Found through the delivery, else by the event's recipient (an email
    Herald sent outside a Send, or an event that raced the page's commit). Bounced and complained are final:
    an unsubscribed contact moves to them too (so a resubscribe cannot bring the address back); one already
    bounced or complained keeps its first reason (contacts.services.contact_suppress).
    """
    email: str | None = None
    if contact_id is None:
        to = data.get("to")
        first = to[0] if isinstance(to, list) and to else to
        if not isinstance(first, str) or not first.strip():
            return "; no contact to suppress"
        email = first
    changed = contact_services.contact_suppress(status=status, contact_id=contact_id, email=email)
    return f"; contact suppressed ({status})" if changed else "; contact already suppressed or unknown"
