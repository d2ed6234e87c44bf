"""Writes to contacts, batches and imports. Other apps call these, never the models' managers directly."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from typing import IO, Any, BinaryIO, cast

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config.gc_tuning import collector_relaxed
from contacts import consent

# The consent changes live beside the ledger they write; every app still calls them from here.
from contacts.consent import contact_resubscribe as contact_resubscribe
from contacts.consent import contact_suppress as contact_suppress
from contacts.consent import contact_unsubscribe as contact_unsubscribe
from contacts.hooks import announces_new_rows
from contacts.import_files import import_job_settle
from contacts.importing.merge import MergeResult, SideSession, Staging, side_session
from contacts.importing.pipeline import ErrorReport, LazyTypes, stream_contacts, stream_events
from contacts.importing.reader import FileUnreadable
from contacts.importing.rows import RowError, contact_row_from_item, event_row
from contacts.models import Batch, Contact, ImportJob

logger = logging.getLogger(__name__)

BULK_LIMIT = 1000
# Progress is written at most this often (seconds): enough for a live bar, no write storm on small chunks.
PROGRESS_EVERY = 0.5


class JobStopped(Exception):
    """The job left `running` (marked failed) while this run merged: the merge is rolled back."""


class SideCommitFailed(Exception):
    """The merge committed but the side session's attributes did not; the job is already failed with the reason."""


def batch_create(*, name: str, source: str = Batch.Source.UPLOAD) -> Batch:
    return Batch.objects.create(name=name, source=source)


def batch_delete(*, batch_id: int) -> None:
    """Delete a batch and its memberships; the contacts stay (a campaign deleted before it sent anything)."""
    Batch.objects.filter(pk=batch_id).delete()


CONTACT_EDITABLE_FIELDS = ("email", "first_name", "last_name", "mobile", "lms_lead_id")


def _contact_clean(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {name: values[name] for name in CONTACT_EDITABLE_FIELDS if name in values}
    for name in ("email", "first_name", "last_name", "mobile"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if "email" in cleaned:
        cleaned["email"] = cleaned["email"].lower()
    if "lms_lead_id" in cleaned:
        # Empty is "no external id" (NULL), so any number of contacts can lack one under the unique constraint.
        cleaned["lms_lead_id"] = (cleaned["lms_lead_id"] or "").strip() or None
    return cleaned


def _contact_conflicts(*, email: str | None, lms_lead_id: str | None, exclude_id: int | None) -> dict[str, str]:
    others = Contact.objects.exclude(pk=exclude_id) if exclude_id else Contact.objects.all()
    errors = {}
    if email and others.filter(email=email).exists():
        errors["email"] = "Another contact has this email."
    if lms_lead_id and others.filter(lms_lead_id=lms_lead_id).exists():
        errors["lms_lead_id"] = "Another contact has this external id."
    return errors


@announces_new_rows
def contact_create(
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    mobile: str = "",
    lms_lead_id: str | None = None,
    source: str = consent.Source.ADMIN,
    ip: str | None = None,
) -> Contact:
    """Add one subscribed contact, with its ledger row. Raises ValidationError (by field) when the email or
    external id is taken, or the address is on the suppression list."""
    values = _contact_clean(
        {"email": email, "first_name": first_name, "last_name": last_name, "mobile": mobile, "lms_lead_id": lms_lead_id}
    )
    if not values["email"]:
        raise ValidationError({"email": "An email is required."})
    errors = _contact_conflicts(email=values["email"], lms_lead_id=values["lms_lead_id"], exclude_id=None)
    if errors:
        raise ValidationError(errors)
    if consent.is_suppressed(email=values["email"]):
        raise ValidationError({"email": consent.SUPPRESSED_MESSAGE})
    now = timezone.now()
    try:
        with transaction.atomic():
            contact = Contact.objects.create(**values, created_at=now, updated_at=now)
            consent.consent_record(contact_ids=[contact.pk], action=consent.Action.SUBSCRIBE, source=source, ip=ip)
            return contact
    except IntegrityError:
        # An import or another user wrote the same email or id between the check and the insert.
        raise ValidationError({"email": "Another contact has this email or external id."}) from None


def contact_update(*, contact: Contact, **changes: Any) -> Contact:
    """Change a contact's email, names, mobile or external id (status changes go through (un/re)subscribe)."""
    unknown = set(changes) - set(CONTACT_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable here: {', '.join(sorted(unknown))}")
    values = _contact_clean(changes)
    if "email" in values and not values["email"]:
        raise ValidationError({"email": "An email is required."})
    errors = _contact_conflicts(email=values.get("email"), lms_lead_id=values.get("lms_lead_id"), exclude_id=contact.pk)
    if errors:
        raise ValidationError(errors)
    if values.get("email") and values["email"] != contact.email and consent.is_suppressed(email=values["email"]):
        raise ValidationError({"email": consent.SUPPRESSED_MESSAGE})
    for name, value in values.items():
        setattr(contact, name, value)
    contact.updated_at = timezone.now()
    try:
        with transaction.atomic():
            extra = ["mobile_hash"] if "mobile" in values else []  # the blind index follows the number
            contact.save(update_fields=[*values, *extra, "updated_at"])
    except IntegrityError:
        raise ValidationError({"email": "Another contact has this email or external id."}) from None
    return contact


@transaction.atomic
def contact_delete(*, contact_id: int) -> bool:
    """Delete a contact with its attributes, funnel events, batch memberships and delivery history (the ORM's
    cascade: attributes and deliveries have no database-level foreign key). True if it existed."""
    deleted, _ = Contact.objects.filter(pk=contact_id).delete()
    return deleted > 0


# --- imports -------------------------------------------------------------------------------------------------


def import_job_create(
    *,
    file: IO[bytes] | File[bytes],
    original_name: str,
    kind: str = ImportJob.Kind.CONTACTS,
    batch: Batch | None = None,
    user: User | AnonymousUser | None = None,
    start: bool = True,
) -> ImportJob:
    """Store the uploaded file as a pending ImportJob. With `start` the worker runs it once this commits; a
    caller may also run it in-process with `import_job_run` (whichever claims it first runs it, once)."""
    if kind not in ImportJob.Kind.values:
        raise ValueError(f"unknown import kind {kind!r}")
    upload = file if isinstance(file, File) else File(file)
    job = ImportJob(
        kind=kind,
        original_name=(original_name or "upload.csv")[:255],
        batch=batch,
        created_by=user if isinstance(user, User) else None,
        bytes_total=upload.size or 0,
    )
    job.file.save(_storage_name(original_name), upload, save=False)
    job.save()
    if start:
        from contacts.tasks import import_job_run_task

        job_id = job.pk
        transaction.on_commit(lambda: import_job_run_task.delay(job_id))
    return job


def _storage_name(original_name: str) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in (original_name or "upload.csv"))
    return stem[-100:] or "upload.csv"


@announces_new_rows
def import_job_run(*, job_id: int, progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Run a pending import to the end (done or failed) and return it. Safe to call twice: only the call that
    moves the job from pending to running does the work; any other call returns the job as it is."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.RUNNING, started_at=now
    )
    job = ImportJob.objects.select_related("batch").get(pk=job_id)
    if not claimed:
        return job
    try:
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as report_out, collector_relaxed():
            outcome = _import_file(job, report_out, now=now, progress=progress)
    except (FileUnreadable, JobStopped) as exc:
        _fail(job, str(exc))
    except SideCommitFailed:
        pass  # the job is failed already, with what was saved and what to do
    except Exception as exc:
        logger.exception("import job %s failed", job_id)
        _fail(job, f"The import stopped on an unexpected error ({type(exc).__name__}: {exc}). Nothing was imported.")
    else:
        logger.info("import job %s done: %s", job_id, outcome)
    import_job_settle(job_id=job_id)  # the upload deleted (or kept and indexed), the error report indexed
    job.refresh_from_db()
    return job


def _import_file(job: ImportJob, report_out: IO[str], *, now: Any, progress: Callable[[ImportJob], None] | None) -> str:
    last_write = [0.0]

    def on_progress(bytes_read: int, rows_read: int) -> None:
        moment = timezone.now().timestamp()
        if moment - last_write[0] < PROGRESS_EVERY:
            return
        last_write[0] = moment
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
            bytes_processed=bytes_read, rows_processed=rows_read
        )
        if progress:
            job.bytes_processed, job.rows_processed = bytes_read, rows_read
            progress(job)

    with job.file.open("rb") as upload, Staging(job.kind) as staging:
        f = cast(BinaryIO, upload)
        if job.kind == ImportJob.Kind.EVENTS:
            streamed, report = stream_events(f, staging, report_out, now, on_progress)
        else:
            streamed, report = stream_contacts(f, staging, report_out, on_progress)
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
            bytes_processed=F("bytes_total"),
            rows_processed=streamed.rows_read,
            message=f"Merging {streamed.rows_read:,} rows ({streamed.description}).",
        )
        with side_session() as side:
            # The side session commits after this transaction did (merge.SideSession).
            with transaction.atomic():
                if job.kind == ImportJob.Kind.EVENTS:
                    result = staging.merge_events()
                else:
                    result = staging.merge_contacts(
                        types=streamed.types, now=now, batch_id=job.batch_id, job_id=job.pk, side=side
                    )
                for line, reason in result.errors:
                    report.add(line, reason)
                errors = report.count
                if errors:
                    report_out.seek(0)
                    job.error_report.save(f"import-{job.pk}-errors.csv", File(report_out), save=False)
                finished = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
                    status=ImportJob.Status.DONE,
                    rows_total=streamed.rows_read,
                    created=result.created,
                    updated=result.updated,
                    unchanged=result.unchanged,
                    skipped=result.skipped,
                    errors=errors,
                    error_report=job.error_report.name or "",
                    message=_summary(streamed.rows_read, result, errors, streamed.description),
                    finished_at=timezone.now(),
                )
                if not finished:
                    # Someone failed or finished the job meanwhile: undo this merge rather than double-count it.
                    raise JobStopped("The job was stopped while it ran; nothing was imported.")
            if side is not None:
                _commit_side(job, side)
    return _summary(streamed.rows_read, result, errors, streamed.description)


def _commit_side(job: ImportJob, side: SideSession) -> None:
    """Commit the side session's attributes after the merge committed. If that commit fails, the contacts and
    counts are in but some new contacts lack their attributes: the job says so and fails; importing the same file
    again adds exactly what is missing."""
    try:
        side.commit()
    except DatabaseError as exc:
        logger.exception("import job %s: the side session's commit failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            message=(
                f"The contacts were saved, but the attributes of some new contacts were not ({exc}). "
                "Import the same file again to add them."
            ),
        )
        raise SideCommitFailed from exc


def _summary(rows: int, result: MergeResult, errors: int, description: str) -> str:
    return (
        f"{rows:,} rows read ({description}): {result.created:,} created, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged, {result.skipped:,} skipped as duplicates, {errors:,} errors."
    )


def _fail(job: ImportJob, message: str) -> None:
    import_job_fail(job_id=job.pk, message=message)


def import_job_fail(*, job_id: int, message: str) -> bool:
    """Mark a pending or running job failed (e.g. its worker was killed); True if this call changed it. A run
    still in progress then finds its job no longer running and rolls its merge back."""
    return bool(
        ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING]).update(
            status=ImportJob.Status.FAILED, message=message, finished_at=timezone.now()
        )
    )


@announces_new_rows
def import_job_from_items(
    *,
    items: Sequence[Any],
    batch: Batch | None = None,
    user: User | AnonymousUser | None = None,
    original_name: str = "contacts.json",
) -> ImportJob:
    """The one import's direct path for contacts given as objects (a JSON upload): the same row rules as a file
    (`contact_row_from_item`: email lower-cased and checked, `name` split into first/last, typed `attributes`),
    the same staging and merge (batch membership, counts, error report), with no CSV written and parsed again.
    Recorded as a finished ImportJob whose error report numbers the items from 1 where a file has lines."""
    now = timezone.now()
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.CONTACTS,
        original_name=(original_name or "contacts.json")[:255],
        batch=batch,
        created_by=user if isinstance(user, User) else None,
        status=ImportJob.Status.RUNNING,
        started_at=now,
        rows_processed=len(items),
    )
    known = LazyTypes()
    assigned: dict[str, str] = {}
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as report_out:
        report = ErrorReport(report_out)
        rows = []
        for number, item in enumerate(items, start=1):
            try:
                rows.append(contact_row_from_item(number, item, known=known, assigned=assigned))
            except RowError as exc:
                report.add(number, str(exc))
        with Staging(ImportJob.Kind.CONTACTS) as staging, transaction.atomic():
            staging.write(rows)
            result = (
                staging.merge_contacts(types=assigned, now=now, batch_id=job.batch_id, job_id=job.pk)
                if rows
                else MergeResult()
            )
            for line, reason in result.errors:
                report.add(line, reason)
            if report.count:
                report_out.seek(0)
                job.error_report.save(f"import-{job.pk}-errors.csv", File(report_out), save=False)
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.DONE,
                rows_total=len(items),
                created=result.created,
                updated=result.updated,
                unchanged=result.unchanged,
                skipped=result.skipped,
                errors=report.count,
                error_report=job.error_report.name or "",
                message=_summary(len(items), result, report.count, "JSON"),
                finished_at=timezone.now(),
            )
    import_job_settle(job_id=job.pk)
    job.refresh_from_db()
    return job


# --- API writes --------------------------------------------------------------------------------------------


@announces_new_rows
def contacts_bulk_upsert(
    *, items: Sequence[Any], batch: Batch | None = None, ip: str | None = None
) -> list[dict[str, Any]]:
    """Upsert up to BULK_LIMIT contacts (with attributes) through the same merge as a file import.
    One result per item, in order: `created | updated | unchanged | skipped | error`, the contact id, a reason."""
    if len(items) > BULK_LIMIT:
        raise ValueError(f"at most {BULK_LIMIT} contacts per call")
    known = LazyTypes()
    assigned: dict[str, str] = {}
    results: list[dict[str, Any]] = [{"index": i, "status": "error", "id": None} for i in range(len(items))]
    rows = []
    for index, item in enumerate(items):
        try:
            rows.append(contact_row_from_item(index, item, known=known, assigned=assigned))
        except RowError as exc:
            results[index]["error"] = str(exc)
    if rows:
        with Staging("contacts") as staging:
            staging.write(rows)
            merged = staging.merge_contacts(
                types=assigned,
                now=timezone.now(),
                batch_id=batch.pk if batch else None,
                detail=True,
                source=consent.Source.API,
                ip=ip,
            )
        _apply(results, rows, merged)
    return results


@announces_new_rows
def funnel_events_create(*, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Record funnel events (insert-only) by `contact_id` or `email`; one result per item, in order."""
    if len(items) > BULK_LIMIT:
        raise ValueError(f"at most {BULK_LIMIT} events per call")
    now = timezone.now()
    results: list[dict[str, Any]] = [{"index": i, "status": "error", "id": None} for i in range(len(items))]
    rows = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise RowError("not an object")
            event = event_row(
                index,
                email=item.get("email"),
                contact_id=item.get("contact_id"),
                funnel_type=item.get("funnel_type") or "sales",
                from_stage=item.get("from_stage"),
                to_stage=item.get("to_stage"),
                created_at=item.get("created_at"),
                amount=item.get("amount"),
            )
        except RowError as exc:
            results[index]["error"] = str(exc)
        else:
            rows.append(event.at(now))
    if rows:
        with Staging("events") as staging:
            staging.write(rows)
            merged = staging.merge_events(detail=True)
        _apply(results, rows, merged)
    for result in results:
        result["contact_id"] = result.pop("id")
    return results


def _apply(results: list[dict[str, Any]], rows: Sequence[Sequence[Any]], merged: MergeResult) -> None:
    errors = dict(merged.errors)
    for row in rows:
        index = row[0]
        if index in errors:
            results[index]["error"] = errors[index]
        elif index in merged.outcomes:
            outcome, contact_id = merged.outcomes[index]
            results[index].update(status=outcome, id=contact_id)
        else:
            results[index].update(status="skipped", error="a later item has the same email or lead id")
