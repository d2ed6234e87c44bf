"""The consent ledger and the suppression list (ConsentRecord, Suppression): the writes every consent change makes
in its own transaction, and the check that keeps a suppressed address from being subscribed again.

Re-adding an address on the suppression list (an erased contact, or a hard bounce or complaint) is refused: the
dashboard and the API answer with a message, an import reports the row as an error. It is never created
suppressed: an erased person's address would then be stored again.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.utils import timezone

from contacts import crypto
from contacts.models import ConsentRecord, Suppression

Action = ConsentRecord.Action
Source = ConsentRecord.Source

SUPPRESSED_MESSAGE = (
    "This address is on the suppression list (erased on request, hard bounce or spam complaint); "
    "it cannot be added again."
)


def consent_record(
    *, contact_ids: Iterable[int], action: str, source: str, ip: str | None = None, detail: str = ""
) -> int:
    """Append one ledger row per contact (call it inside the transaction that made the change)."""
    now = timezone.now()
    rows = [
        ConsentRecord(contact_id=pk, action=action, source=source, ip=ip or None, detail=detail[:100], at=now)
        for pk in contact_ids
    ]
    ConsentRecord.objects.bulk_create(rows)
    return len(rows)


def suppression_add(*, email: str, reason: str, source: str) -> None:
    """Put an address on the suppression list (by its hash); an address already there keeps its first reason."""
    Suppression.objects.bulk_create(
        [Suppression(email_hash=crypto.email_hash(email), reason=reason, source=source)], ignore_conflicts=True
    )


def is_suppressed(*, email: str) -> bool:
    return Suppression.objects.filter(email_hash=crypto.email_hash(email)).exists()


def suppression_list_empty() -> bool:
    return not Suppression.objects.exists()


def suppressed_sql(column: str) -> tuple[str, list[object]]:
    """A condition true when `column` (a normalised email) is on the suppression list, with its parameters:
    PostgreSQL computes the HMAC itself (one statement for any number of rows); SQLite calls a function
    registered on the connection."""
    if connection.vendor == "postgresql":
        return (
            f"EXISTS (SELECT 1 FROM contacts_suppression sp WHERE sp.email_hash = {crypto.email_hash_sql(column)})",
            list(crypto.email_hash_sql_params()),
        )
    connection.ensure_connection()
    connection.connection.create_function("herald_email_hash", 1, crypto.email_hash, deterministic=True)
    return (f"EXISTS (SELECT 1 FROM contacts_suppression sp WHERE sp.email_hash = herald_email_hash({column}))", [])
