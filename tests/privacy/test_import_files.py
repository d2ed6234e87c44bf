"""Import files and erasure (contacts/import_files.py): uploads go when their import ends (or after
HERALD_IMPORT_KEEP_UPLOADS_DAYS), kept files are indexed by address hash, and an erasure opens only the files that
hold its address."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from contacts import crypto
from contacts import services as contact_services
from contacts.models import ImportFileAddress, ImportJob
from privacy import services

pytestmark = pytest.mark.django_db

TARGET = "Ada.Target@files-test.example"
ADDRESS = TARGET.lower()


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.HERALD_IMPORT_KEEP_UPLOADS_DAYS = 0
    return tmp_path


@pytest.fixture
def keep(settings: Any) -> None:
    settings.HERALD_IMPORT_KEEP_UPLOADS_DAYS = 2


def _import(text: str, *, name: str = "people.csv") -> ImportJob:
    job = contact_services.import_job_create(file=io.BytesIO(text.encode()), original_name=name, start=False)
    return contact_services.import_job_run(job_id=job.pk)


def _read(stored: Any) -> str:
    with stored.open("rb") as f:
        return str(f.read().decode())


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# Two good rows and one with an unknown status: the error report holds that row (and so its address).
def _people(address: str, other: str) -> str:
    return f"email,first_name,status\n{address},Ada,subscribed\n{other},Bo,subscribed\n{address},Ada,maybe\n"


def test_an_upload_is_deleted_when_its_import_ends(media: Path) -> None:
    job = _import(_people(TARGET, "bo@files-test.example"))

    assert job.status == ImportJob.Status.DONE and not job.file
    assert [p.name for p in _files(media)] == [Path(str(job.error_report.name)).name]


def test_an_upload_is_deleted_when_its_import_fails(media: Path) -> None:
    job = _import("email\n")

    assert job.status == ImportJob.Status.FAILED and not job.file
    assert _files(media) == []


def test_a_kept_upload_is_deleted_by_the_daily_purge_once_its_days_are_over(keep: None) -> None:
    job = _import(_people(TARGET, "bo@files-test.example"))
    path = Path(job.file.path)

    assert services.retention_purge(days=None)["import_uploads"] == 0 and path.exists()
    later = timezone.now() + dt.timedelta(days=2, minutes=1)
    assert services.retention_purge(days=None, now=later)["import_uploads"] == 1
    assert not path.exists() and not ImportJob.objects.get(pk=job.pk).file


def test_the_purge_deletes_the_upload_an_import_killed_mid_run_left_behind(media: Path) -> None:
    job = contact_services.import_job_create(
        file=io.BytesIO(b"email\na@x.example\n"), original_name="a.csv", start=False
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)
    contact_services.import_job_fail(job_id=job.pk, message="worker lost")

    assert services.retention_purge(days=None)["import_uploads"] == 1
    assert _files(media) == []


def test_the_files_kept_after_an_import_are_indexed_by_the_hashes_of_their_addresses(keep: None) -> None:
    job = _import(_people(TARGET, "bo@files-test.example"))

    hashes = set(ImportFileAddress.objects.filter(job=job).values_list("email_hash", flat=True))
    assert hashes == {crypto.email_hash(ADDRESS), crypto.email_hash("bo@files-test.example")}


def test_an_erasure_opens_none_of_the_unrelated_import_files(keep: None, monkeypatch: Any) -> None:
    unrelated = [_import(_people(f"p{i}@files-test.example", f"q{i}@files-test.example")) for i in range(6)]
    mine = _import(_people(TARGET, "bo@files-test.example"))
    opened: list[str] = []
    real_open = FileSystemStorage._open  # type: ignore[attr-defined]

    def spy(self: FileSystemStorage, name: str, mode: str = "rb") -> Any:
        opened.append(name)
        return real_open(self, name, mode)

    monkeypatch.setattr(FileSystemStorage, "_open", spy)

    report = services.gdpr_erase(email=TARGET)

    assert report.counts["import_files"] == 2
    assert set(opened) == {mine.file.name, mine.error_report.name}
    assert all(job.file.name not in opened and job.error_report.name not in opened for job in unrelated)


def test_an_erasure_drops_the_address_from_the_kept_upload_and_error_report_and_keeps_the_rest(keep: None) -> None:
    job = _import(_people(TARGET, "bo@files-test.example"))

    services.gdpr_erase(email=TARGET)

    upload, errors = _read(job.file), _read(job.error_report)
    assert ADDRESS not in upload.lower() and "bo@files-test.example" in upload
    assert ADDRESS not in errors.lower() and errors.startswith("line,reason,data")
    assert not ImportFileAddress.objects.filter(email_hash=crypto.email_hash(ADDRESS)).exists()


def test_an_erasure_reads_the_upload_of_an_import_that_has_not_run_yet() -> None:
    job = contact_services.import_job_create(
        file=io.BytesIO(_people(TARGET, "bo@files-test.example").encode()), original_name="a.csv", start=False
    )

    assert services.gdpr_erase(email=TARGET).counts["import_files"] == 1
    assert ADDRESS not in _read(job.file).lower()


def test_a_kept_upload_that_brings_back_an_erased_address_loses_its_lines_when_the_import_ends(keep: None) -> None:
    services.gdpr_erase(email=TARGET)

    job = _import(_people(TARGET, "bo@files-test.example"))

    assert ADDRESS not in _read(job.file).lower() and "bo@files-test.example" in _read(job.file)
    assert ADDRESS not in _read(job.error_report).lower()
