"""The consent ledger and the suppression list (ConsentRecord, Suppression): the writes every consent change makes
in its own transaction, and the check that keeps a suppressed address from being subscribed again.

Re-adding an address on the suppression list (an erased contact, or a hard bounce or complaint) is refused: the
dashboard and the API answer with a message, an import reports the row as an error. It is never created
suppressed: an erased person's address would then be stored again.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from contacts import crypto
from contacts.models import ConsentRecord, Contact, Suppression

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


# --- the consent changes (re-exported by contacts.services, the one place other apps call) ---------------------


@transaction.atomic
def contact_unsubscribe(
    *, contact_id: int, source: str = Source.ADMIN, ip: str | None = None, detail: str = ""
) -> bool:
    """Unsubscribe once; True if this call changed the status (a second call is a no-op). The change and its
    ledger row (`source`: admin, link, api ...; the request's `ip`) commit together."""
    now = timezone.now()
    changed = Contact.objects.filter(pk=contact_id, status=Contact.Status.SUBSCRIBED).update(
        status=Contact.Status.UNSUBSCRIBED, unsubscribed_at=now, updated_at=now
    )
    if changed:
        consent_record(contact_ids=[contact_id], action=Action.UNSUBSCRIBE, source=source, ip=ip, detail=detail)
    return changed == 1


@transaction.atomic
def contact_suppress(
    *,
    status: str,
    contact_id: int | None = None,
    email: str | None = None,
    source: str = Source.WEBHOOK,
    ip: str | None = None,
) -> bool:
    """Take a contact off every later send after a hard bounce or a complaint (`status` is `bounced` or
    `complained`), found by id or else by email. Final: an unsubscribed contact moves too, so a resubscribe cannot
    bring the address back; one already bounced or complained keeps its first reason. True if this call changed it.
    Contact.status is what every snapshot reads (`subscribed` only); the address also goes on the suppression
    list (by hash), so it stays suppressed after an erasure."""
    if status not in (Contact.Status.BOUNCED, Contact.Status.COMPLAINED):
        raise ValueError(f"not a suppression status: {status!r}")
    contacts = Contact.objects.all()
    if contact_id is not None:
        contacts = contacts.filter(pk=contact_id)
    elif email:
        contacts = contacts.filter(email=email.strip().lower())
    else:
        return False
    movable = contacts.filter(status__in=[Contact.Status.SUBSCRIBED, Contact.Status.UNSUBSCRIBED])
    found = list(movable.select_for_update().values_list("pk", "email"))
    changed = Contact.objects.filter(
        pk__in=[pk for pk, _ in found], status__in=[Contact.Status.SUBSCRIBED, Contact.Status.UNSUBSCRIBED]
    ).update(status=status, updated_at=timezone.now())
    if changed:
        consent_record(contact_ids=[pk for pk, _ in found], action=Action.SUPPRESS, source=source, ip=ip, detail=status)
    for address in {addr for _, addr in found} | ({email.strip().lower()} if email else set()):
        suppression_add(email=address, reason=status, source=source)
    return changed > 0


@transaction.atomic
def contact_resubscribe(*, contact_id: int, source: str = Source.ADMIN, ip: str | None = None) -> bool:
    """Subscribe an unsubscribed contact again; True if this call changed the status. Bounced and complained
    contacts stay as they are: mail to them would bounce again or be marked as spam."""
    changed = Contact.objects.filter(pk=contact_id, status=Contact.Status.UNSUBSCRIBED).update(
        status=Contact.Status.SUBSCRIBED, unsubscribed_at=None, updated_at=timezone.now()
    )
    if changed:
        consent_record(contact_ids=[contact_id], action=Action.RESUBSCRIBE, source=source, ip=ip)
    return changed == 1
