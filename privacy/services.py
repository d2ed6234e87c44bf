"""Data-subject export and erasure, and the retention purge (issue 18 §2; docs/privacy.md).

privacy is the top layer: it reaches every app's personal data through that app's own module (contacts.erasure,
delivery.privacy) and the audit log (django-auditlog's LogEntry) directly. One entry per operation, used by the
contact page, the API and `manage.py gdpr` / `manage.py purge_retention` alike.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from contacts import crypto, import_files
from contacts import erasure as contact_erasure
from contacts.csvsafe import safe_writer
from contacts.models import Contact
from delivery import privacy as delivery_privacy

logger = logging.getLogger(__name__)

ERASED = "[erased]"


class PersonNotFound(LookupError):
    """No contact and no trace of this address."""


@dataclass
class ErasureReport:
    email_hash: str
    contact_id: int | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def gdpr_export(*, email: str) -> dict[str, Any]:
    """Everything Herald holds about one address: the contact, attributes (decrypted), funnel events, batches,
    consent ledger, deliveries, opens and clicks, provider events and outbox copies. JSON-ready (dates as ISO
    strings). Raises PersonNotFound when there is neither a contact nor any row about the address."""
    address = crypto.normalise_email(email)
    contact = contact_erasure.contact_find(email=address)
    data: dict[str, Any] = {"email": address, "exported_at": timezone.now()}
    data.update(contact_erasure.contact_export(contact=contact, email=address))
    data.update(delivery_privacy.person_export(contact_id=contact.pk if contact else None, email=address))
    data["journey_enrollments"] = _enrollments(contact)
    if contact is None and not any(data[k] for k in ("consent", "deliveries", "outbox", "webhook_events")):
        raise PersonNotFound(f"Herald holds nothing about {address}.")
    result: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return result


def _enrollments(contact: Contact | None) -> list[Any]:
    if contact is None:
        return []
    from automations.models import Enrollment

    return list(
        Enrollment.objects.filter(contact=contact)
        .order_by("pk")
        .values("id", "journey_id", "journey__name", "status", "step_key", "entered_at", "finished_at", "reason")
    )


def gdpr_export_zip(*, email: str) -> bytes:
    """The export as a zip of CSV files, one per section (formula cells defused), plus the JSON."""
    data = gdpr_export(email=email)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(data, indent=2))
        for name, value in data.items():
            rows = [value] if isinstance(value, dict) else value
            if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
                continue
            out = io.StringIO()
            writer = safe_writer(out)
            header = list(rows[0])
            writer.writerow(header)
            for row in rows:
                writer.writerow([_cell(row.get(col)) for col in header])
            archive.writestr(f"{name}.csv", out.getvalue())
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else ("" if value is None else value)


def gdpr_erase(*, email: str, actor: Any = None, source: str = "admin") -> ErasureReport:
    """Erase one address: the contact and what hangs off it, the personal fields of its deliveries (the rows and
    their counts stay for reports), tracking rows, outbox copies, provider payloads that carry it, audit entries
    that mention it and lines of the import files that hold it (found by the address's hash: unrelated import files
    are not opened; contacts/import_files.py). The address's HMAC goes on the suppression list (a
    re-import does not bring it back) and the consent ledger keeps its rows under that hash. The erasure itself
    is written to the audit log (who, when, the hash and the counts, never the address). One transaction for the
    rows; the import files are rewritten after it commits."""
    address = crypto.normalise_email(email)
    if not address:
        raise ValueError("an email is required")
    with transaction.atomic():
        contact = Contact.objects.select_for_update().filter(email=address).first()
        report = ErasureReport(email_hash=crypto.email_hash(address), contact_id=contact.pk if contact else None)
        report.counts.update(delivery_privacy.person_erase(contact_id=report.contact_id, email=address))
        report.counts.update(contact_erasure.contact_erase(contact=contact, email=address, source=source))
        report.counts["audit_entries"] = _audit_scrub(address, contact)
        _audit_record(report, actor)
    transaction.on_commit(lambda: logger.info("erased contact %s (%s)", report.contact_id, report.email_hash[:12]))
    report.counts["import_files"] = import_files.import_files_scrub(email=address)
    return report


_AUDIT_TEXT = ("object_repr", "changes_text", "actor_email", "serialized_data", "changes", "additional_data")


def _audit_scrub(address: str, contact: Contact | None) -> int:
    """Replace the address (and an erased contact's names and mobile) in every audit entry that mentions it."""
    needles = [address]
    if contact is not None:
        needles += [v for v in (contact.mobile, contact.full_name, contact.first_name, contact.last_name) if v]
    text = {f"{name}_astext": Cast(name, TextField()) for name in _AUDIT_TEXT}
    mentions = Q()
    for name in _AUDIT_TEXT:
        mentions |= Q(**{f"{name}_astext__icontains": address})
    scrubbed = 0
    for entry in LogEntry.objects.annotate(**text).filter(mentions).iterator():
        for name in _AUDIT_TEXT:
            setattr(entry, name, _scrub(getattr(entry, name), needles))
        entry.save(update_fields=list(_AUDIT_TEXT))
        scrubbed += 1
    return scrubbed


def _scrub(value: Any, needles: list[str]) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return _scrub_text(value, needles)
    return json.loads(_scrub_text(json.dumps(value), needles))


def _scrub_text(text: str, needles: list[str]) -> str:
    for needle in sorted(needles, key=len, reverse=True):
        text = re.sub(re.escape(needle), ERASED, text, flags=re.IGNORECASE)
    return text


def _audit_record(report: ErasureReport, actor: Any) -> None:
    user = actor if getattr(actor, "is_authenticated", False) else None
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Contact),
        object_pk=str(report.contact_id or ""),
        object_id=report.contact_id,
        object_repr=f"erased contact {report.email_hash[:12]}",
        action=LogEntry.Action.DELETE,
        changes={},
        changes_text="GDPR erasure",
        actor=user,
        additional_data={"gdpr": "erasure", "email_hash": report.email_hash, "counts": dict(report.counts)},
    )


def retention_purge(
    *, days: int | None = None, now: dt.datetime | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Delete tracking rows, outbox copies and provider events older than `days` (HERALD_RETENTION_DAYS when not
    given; none when that is unset), and the uploads of imports that ended more than HERALD_IMPORT_KEEP_UPLOADS_DAYS
    ago. With `dry_run`, count them instead."""
    days = settings.HERALD_RETENTION_DAYS if days is None else days
    if days is not None and days < 1:
        raise ValueError("the retention period is at least one day")
    counts = {"import_uploads": import_files.import_uploads_purge(now=now, dry_run=dry_run)}
    if days is not None:
        before = (now or timezone.now()) - dt.timedelta(days=days)
        counts.update(delivery_privacy.retention_purge(before=before, dry_run=dry_run))
    logger.info("retention purge (%s days%s): %s", days, ", dry run" if dry_run else "", counts)
    return counts


__all__ = ["ErasureReport", "PersonNotFound", "gdpr_erase", "gdpr_export", "gdpr_export_zip", "retention_purge"]
