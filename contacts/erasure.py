"""What the privacy app asks of contacts: one person's contact data exported, or erased (docs/privacy.md).

Erasure deletes the contact row and every row that hangs off it (attributes, funnel events, batch and segment
memberships, journey enrollments: whatever model has a foreign key to Contact, found at run time, so a table added
later is covered), except two: Delivery rows stay for the reports (delivery.privacy blanks their address first),
and the consent ledger stays, detached and keyed by the email's hash. The address goes on the suppression list.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models

from contacts import consent, crypto
from contacts.models import ConsentRecord, Contact, ContactAttribute, FunnelEvent
from contacts.selectors import consent_ledger

# Rows that outlive the contact: delivery blanks its own personal fields; the ledger is detached below.
KEPT = {"delivery.delivery", "contacts.consentrecord"}


def contact_find(*, email: str) -> Contact | None:
    return Contact.objects.filter(email=crypto.normalise_email(email)).first()


def contact_export(*, contact: Contact | None, email: str) -> dict[str, Any]:
    """The contact, its attributes (decrypted), funnel events, batches and consent ledger; with no contact, the
    ledger rows kept under the address's hash after an erasure."""
    if contact is None:
        ledger = ConsentRecord.objects.filter(email_hash=crypto.email_hash(email))
        return {"contact": None, "attributes": [], "funnel_events": [], "batches": [], "consent": _ledger(ledger)}
    return {
        "contact": {
            "id": contact.pk,
            "email": contact.email,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "mobile": contact.mobile,
            "lms_lead_id": contact.lms_lead_id,
            "status": contact.status,
            "unsubscribed_at": contact.unsubscribed_at,
            "created_at": contact.created_at,
            "updated_at": contact.updated_at,
        },
        "attributes": [
            {"name": a.field_name, "type": a.field_type, "value": a.field_value, "updated_at": a.updated_at}
            for a in ContactAttribute.objects.filter(contact=contact).order_by("field_name")
        ],
        "funnel_events": list(
            FunnelEvent.objects.filter(contact=contact)
            .order_by("created_at", "pk")
            .values("id", "funnel_type", "from_stage", "to_stage", "created_at", "amount")
        ),
        "batches": list(contact.batch_memberships.order_by("pk").values("batch_id", "batch__name", "added_at")),
        "consent": _ledger(consent_ledger(contact_id=contact.pk)),
    }


def _ledger(rows: models.QuerySet[ConsentRecord]) -> list[Any]:
    return list(rows.order_by("at", "pk").values("at", "action", "source", "detail", "ip"))


def contact_erase(*, contact: Contact | None, email: str, source: str) -> dict[str, int]:
    """Delete the contact and what hangs off it, detach its ledger, and suppress the address (inside the caller's
    transaction; delivery's rows must be anonymised first, by the same transaction)."""
    address = crypto.normalise_email(email)
    email_hash = crypto.email_hash(address)
    counts: dict[str, int] = {}
    consent.suppression_add(email=address, reason="erased", source=source)
    if contact is not None:
        counts["consent_records"] = ConsentRecord.objects.filter(contact=contact).update(
            contact=None, email_hash=email_hash, ip=None
        )
        # The import entry that created the contact is shared with every contact that import created: it stays as
        # it is, and a copy under the hash keeps the record that this address was subscribed by it.
        origin = ConsentRecord.objects.filter(pk=contact.consent_origin_id or 0).first()
        if origin is not None:
            ConsentRecord.objects.create(
                contact=None,
                email_hash=email_hash,
                action=origin.action,
                source=origin.source,
                detail=origin.detail,
                at=origin.at,
            )
            counts["consent_records"] += 1
        for relation in Contact._meta.related_objects:
            related = relation.related_model
            # A many-to-many's reverse side (Batch.contacts) names the other table: its through rows have their
            # own foreign key and are deleted by that relation.
            if relation.many_to_many or not isinstance(related, type) or related._meta.label_lower in KEPT:
                continue
            deleted = related._base_manager.filter(**{relation.field.name: contact}).delete()[0]
            counts[related._meta.label_lower] = deleted
        # The ORM's delete would cascade to the Delivery rows the reports count: delete the row alone (nothing
        # references it any more but those, which have no database-level constraint).
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Contact._meta.db_table} WHERE id = %s", [contact.pk])
            counts["contacts"] = cursor.rowcount
    ConsentRecord.objects.create(
        contact=None, email_hash=email_hash, action=consent.Action.SUPPRESS, source=source, detail="erased"
    )
    return counts
