"""The files an import leaves behind, the upload and its error report, and the personal data in them (issue 18 §2;
docs/privacy.md "Import files").

- The upload is deleted when its import ends (done or failed): everything in it is in the tables by then, or in
  the error report. `HERALD_IMPORT_KEEP_UPLOADS_DAYS` > 0 keeps it that many days after the import finished; the
  daily retention purge deletes it then (and deletes any upload an import killed mid-run left behind).
- Every file kept past the end of its import (the error report; the upload when kept) is indexed when the import
  ends: ImportFileAddress holds the keyed hash (`crypto.email_hash`) of each address-like token in it. An erasure
  looks its address's hash up and opens only the files that hold it, plus the uploads not indexed yet (imports
  pending or running, or killed before they ended): its cost follows the files holding the address and the imports
  in flight, never the number of finished imports.
- When a kept file is indexed, lines holding an address erased earlier (a re-import of an old file) are dropped at
  once, so an erased address does not come back through a kept upload.

A token is a run of characters between separators (space, quotes, the delimiters , ; | and tab, brackets) that has
an @ in it, lower-cased: what the import itself would take as the email after trimming. Files are read in the
encoding the import detected, streamed line by line.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from contacts import crypto
from contacts.importing.reader import FileUnreadable, detect_encoding
from contacts.models import ImportFileAddress, ImportJob, Suppression

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"[^\s\"'`,;|<>()\[\]{}]*@[^\s\"'`,;|<>()\[\]{}]*")
INDEX_CHUNK = 20_000
FINISHED = (ImportJob.Status.DONE, ImportJob.Status.FAILED)


def address_tokens(line: str) -> Iterator[str]:
    for match in _TOKEN.finditer(line.lower()):
        token = match.group().strip(".:")
        if len(token) > 2:
            yield token


def _hasher() -> Any:
    cache: dict[str, str] = {}

    def digest(token: str) -> str:
        found = cache.get(token)
        if found is None:
            if len(cache) > 100_000:
                cache.clear()
            found = cache[token] = crypto.email_hash(token)
        return found

    return digest


def _lines(stored: FieldFile) -> Iterator[str]:
    with stored.open("rb") as raw:
        try:
            encoding = detect_encoding(cast(BinaryIO, raw))
        except FileUnreadable:
            encoding = "latin-1"
        raw.seek(0)
        yield from io.TextIOWrapper(cast(BinaryIO, raw), encoding=encoding, errors="replace", newline="")


def _token_chunks(lines: Iterable[str]) -> Iterator[set[str]]:
    """The address tokens of `lines`, in sets of at most INDEX_CHUNK."""
    chunk: set[str] = set()
    for line in lines:
        if "@" not in line:
            continue
        chunk.update(address_tokens(line))
        if len(chunk) >= INDEX_CHUNK:
            yield chunk
            chunk = set()
    if chunk:
        yield chunk


def _index(job: ImportJob, stored: FieldFile) -> None:
    for chunk in _token_chunks(_lines(stored)):
        if connection.vendor == "postgresql":
            # PostgreSQL computes the HMACs (crypto.email_hash_sql): one statement per chunk, no row objects.
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO contacts_importfileaddress (job_id, email_hash) "
                    f"SELECT DISTINCT %s, {crypto.email_hash_sql('t')} FROM unnest(%s::text[]) AS t "
                    "ON CONFLICT DO NOTHING",
                    [job.pk, *crypto.email_hash_sql_params(), list(chunk)],
                )
            continue
        digest = _hasher()
        ImportFileAddress.objects.bulk_create(
            [ImportFileAddress(job=job, email_hash=digest(t)) for t in chunk], ignore_conflicts=True, batch_size=1000
        )


def _file_scrub(stored: FieldFile, hashes: set[str], needles: Iterable[str] = ()) -> bool:
    """Rewrite `stored` without the lines holding an address whose hash is in `hashes` (a line is hashed only when
    it holds one of `needles`, when given: a plain substring test first). Returns True if it changed."""
    needles = list(needles)
    digest = _hasher()

    def holds(line: str) -> bool:
        if "@" not in line:
            return False
        if needles and not any(n in line.lower() for n in needles):
            return False
        return any(digest(t) in hashes for t in address_tokens(line))

    with stored.open("rb") as raw:
        try:
            encoding = detect_encoding(cast(BinaryIO, raw))
        except FileUnreadable:
            return False
    if not any(holds(line) for line in _lines(stored)):
        return False
    with tempfile.TemporaryFile() as kept:
        out = io.TextIOWrapper(kept, encoding=encoding, newline="")
        out.writelines(line for line in _lines(stored) if not holds(line))
        out.flush()
        kept.seek(0)
        with stored.storage.open(str(stored.name), "wb") as target:
            shutil.copyfileobj(kept, target)
        out.detach()
    return True


def _keep_days() -> int:
    return int(getattr(settings, "HERALD_IMPORT_KEEP_UPLOADS_DAYS", 0) or 0)


def _upload_delete(job: ImportJob) -> bool:
    if not job.file:
        return False
    job.file.delete(save=False)
    ImportJob.objects.filter(pk=job.pk).update(file="")
    return True


def import_job_settle(*, job_id: int) -> bool:
    """Called once an import has ended: delete its upload (or keep and index it), index its error report, and drop
    from them the lines of addresses erased before. Idempotent. True if it deleted the upload."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status not in FINISHED or job.files_indexed_at is not None:
        return False
    kept = [job.error_report] if job.error_report else []
    deleted = False
    if _keep_days() > 0 and job.file:
        kept.append(job.file)
    else:
        deleted = _upload_delete(job)
    for stored in kept:
        try:
            _index(job, stored)
        except OSError:
            logger.exception("import %s: could not index %s", job.pk, stored.name)
    erased = set(
        ImportFileAddress.objects.filter(
            job=job,
            email_hash__in=Suppression.objects.filter(reason=Suppression.Reason.ERASED).values("email_hash"),
        ).values_list("email_hash", flat=True)
    )
    if erased:
        for stored in kept:
            _file_scrub(stored, erased)
        ImportFileAddress.objects.filter(job=job, email_hash__in=erased).delete()
    ImportJob.objects.filter(pk=job.pk).update(files_indexed_at=timezone.now())
    return deleted


def import_files_scrub(*, email: str) -> int:
    """Drop every line holding `email` from the import files that hold it: the indexed files whose index names it,
    and the uploads not indexed yet (imports in flight). Returns the files rewritten."""
    address = crypto.normalise_email(email)
    email_hash = crypto.email_hash(address)
    jobs = ImportJob.objects.filter(
        Q(pk__in=ImportFileAddress.objects.filter(email_hash=email_hash).values("job_id"))
        | (Q(files_indexed_at__isnull=True) & ~Q(file=""))
    ).only("pk", "file", "error_report", "files_indexed_at")
    rewritten = 0
    for job in jobs:
        files = [job.file, job.error_report] if job.files_indexed_at is not None else [job.file]
        for stored in files:
            if not stored:
                continue
            try:
                rewritten += _file_scrub(stored, {email_hash}, needles=[address])
            except OSError:
                logger.exception("import %s: could not scrub %s", job.pk, stored.name)
    ImportFileAddress.objects.filter(email_hash=email_hash).delete()
    return rewritten


def import_uploads_purge(*, now: dt.datetime | None = None, dry_run: bool = False) -> int:
    """Delete the uploads of imports that ended more than HERALD_IMPORT_KEEP_UPLOADS_DAYS ago (0: any ended import,
    e.g. one whose worker was killed before it could delete its own). Returns how many (or would be, dry run)."""
    before = (now or timezone.now()) - dt.timedelta(days=_keep_days())
    jobs = ImportJob.objects.filter(status__in=FINISHED, finished_at__lte=before).exclude(file="")
    if dry_run:
        return jobs.count()
    # An import failed by someone else (its worker killed) never settled its own files: settle them now.
    unsettled = ImportJob.objects.filter(status__in=FINISHED, files_indexed_at__isnull=True)
    deleted = sum(import_job_settle(job_id=pk) for pk in unsettled.values_list("pk", flat=True))
    return deleted + sum(_upload_delete(job) for job in jobs.only("pk", "file").iterator())
