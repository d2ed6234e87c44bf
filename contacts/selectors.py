"""Reads of contacts and batches for other apps."""

from __future__ import annotations

from django.db.models import QuerySet

from contacts.models import BatchMember, Contact


def batch_contact_ids(*, batch_id: int) -> QuerySet[BatchMember, int]:
    """The batch's members as a query of contact ids (a subquery, never a Python list)."""
    return BatchMember.objects.filter(batch_id=batch_id).values_list("contact_id", flat=True)


def contacts_in(*, contact_ids: QuerySet) -> QuerySet[Contact]:
    return Contact.objects.filter(pk__in=contact_ids)
