"""Writes to contacts, batches and imports. Other apps call these, never the models' managers directly."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from contacts.models import Batch, Contact


def batch_create(*, name: str, source: str = Batch.Source.UPLOAD) -> Batch:
    return Batch.objects.create(name=name, source=source)


@transaction.atomic
def contact_unsubscribe(*, contact_id: int) -> bool:
    """Unsubscribe once; True if this call changed the status (a second call is a no-op)."""
    now = timezone.now()
    changed = Contact.objects.filter(pk=contact_id, status=Contact.Status.SUBSCRIBED).update(
        status=Contact.Status.UNSUBSCRIBED, unsubscribed_at=now, updated_at=now
    )
    return changed == 1
