from __future__ import annotations

import csv
import gc
import io
from typing import Any

import pytest

from config.gc_tuning import BULK_THRESHOLD
from contacts import services as contact_services
from contacts.models import Batch, BatchMember, Contact, ContactAttribute, ImportJob
from tests.contacts.conftest import RunImport, make_contact

pytestmark = pytest.mark.django_db


def _counts(job: ImportJob) -> dict[str, int]:
    return {
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "skipped": job.skipped,
        "errors": job.errors,
    }


def _error_rows(job: ImportJob) -> list[dict[str, str]]:
    with job.error_report.open("rb") as f:
        return list(csv.DictReader(io.StringIO(f.read().decode())))


def test_plain_utf8_file_creates_contacts(run_import: RunImport) -> None:
    job = run_import("email,first_name,last_name\nann@example.com,Ann,Lee\nbob@example.com,Bob,Ray\n")
    assert job.status == ImportJob.Status.DONE
    assert job.created == 2
    assert Contact.objects.get(email="ann@example.com").last_name == "Lee"


def test_email_is_stored_lower_case(run_import: RunImport) -> None:
    run_import("Email\nAnn.Lee@Example.COM\n")
    assert Contact.objects.filter(email="ann.lee@example.com").exists()


def test_utf8_bom_header_is_recognised(run_import: RunImport) -> None:
    job = run_import("\ufeffEmail,First Name\nzoe@example.com,Zoë\n".encode())
    assert job.status == ImportJob.Status.DONE
    assert Contact.objects.get(email="zoe@example.com").first_name == "Zoë"


def test_cp1252_file_is_decoded(run_import: RunImport) -> None:
    job = run_import("email;first_name\nrene@example.com;René “Ray”\n".encode("cp1252"))
    assert job.status == ImportJob.Status.DONE
    assert Contact.objects.get(email="rene@example.com").first_name == "René “Ray”"


def test_semicolon_delimiter_is_sniffed(run_import: RunImport) -> None:
    run_import("email;first_name;last_name\nann@example.com;Ann;Lee\n")
    assert Contact.objects.get(email="ann@example.com").first_name == "Ann"


def test_tab_delimiter_is_sniffed(run_import: RunImport) -> None:
    run_import("email\tfirst_name\nann@example.com\tAnn\n")
    assert Contact.objects.get(email="ann@example.com").first_name == "Ann"


def test_quoted_field_with_newline_stays_one_value(run_import: RunImport) -> None:
    job = run_import('email,notes\nann@example.com,"line one\nline two"\nbob@example.com,x\n')
    assert job.created == 2
    note = ContactAttribute.objects.get(contact__email="ann@example.com", field_name="notes")
    assert note.field_value == "line one\nline two"


def test_blank_lines_are_ignored(run_import: RunImport) -> None:
    job = run_import("email\n\nann@example.com\n\n\nbob@example.com\n")
    assert (job.rows_total, job.created, job.errors) == (2, 2, 0)


def test_mailchimp_export_headers_import_unchanged(run_import: RunImport) -> None:
    run_import(
        "Email Address,First Name,Last Name,Phone Number,MEMBER_RATING,TAGS\nann@example.com,Ann,Lee,+441234,2,vip\n"
    )
    contact = Contact.objects.get(email="ann@example.com")
    assert (contact.first_name, contact.last_name, contact.mobile) == ("Ann", "Lee", "+441234")
    assert contact.attributes.get(field_name="member_rating").field_value == 2


def test_listmonk_export_headers_import_unchanged(run_import: RunImport) -> None:
    run_import(
        "uuid,email,name,attributes,status,created_at,updated_at\n"
        'a1,ann@example.com,Ann Marie Lee,"{""city"": ""Leeds"", ""score"": 7}",enabled,2024-01-01,2024-01-02\n'
    )
    contact = Contact.objects.get(email="ann@example.com")
    assert (contact.first_name, contact.last_name) == ("Ann", "Marie Lee")
    assert {a.field_name: a.field_value for a in contact.attributes.all()} == {"city": "Leeds", "score": 7}


def test_e_mail_alias_is_the_email_column(run_import: RunImport) -> None:
    job = run_import("E-mail,Surname\nann@example.com,Lee\n")
    assert job.created == 1
    assert Contact.objects.get(email="ann@example.com").last_name == "Lee"


def test_name_column_is_split_into_first_and_last(run_import: RunImport) -> None:
    run_import("name,email\nAnn Lee,ann@example.com\n")
    contact = Contact.objects.get(email="ann@example.com")
    assert (contact.first_name, contact.last_name) == ("Ann", "Lee")


def test_extra_columns_become_typed_attributes(run_import: RunImport) -> None:
    run_import(
        "email,age,vip,joined,last_seen,tags,city\n"
        'ann@example.com,41,yes,2024-02-03,2024-02-03T10:00:00Z,"[""a"",""b""]",Leeds\n'
    )
    attrs = {a.field_name: (a.field_type, a.field_value) for a in ContactAttribute.objects.all()}
    assert attrs == {
        "age": ("numeric", 41),
        "vip": ("boolean", True),
        "joined": ("date", "2024-02-03"),
        "last_seen": ("timestamp", "2024-02-03T10:00:00+00:00"),
        "tags": ("array", ["a", "b"]),
        "city": ("string", "Leeds"),
    }


def test_declared_type_in_header_wins_over_inference(run_import: RunImport) -> None:
    run_import("email,zip:string\nann@example.com,01234\n")
    attribute = ContactAttribute.objects.get(field_name="zip")
    assert (attribute.field_type, attribute.field_value) == ("string", "01234")


def test_value_not_fitting_its_type_is_a_row_error(run_import: RunImport) -> None:
    job = run_import("email,age:numeric\nann@example.com,41\nbob@example.com,old\n")
    assert (job.created, job.errors) == (1, 1)
    assert _error_rows(job)[0]["line"] == "3"
    assert "not a number" in _error_rows(job)[0]["reason"]


def test_stored_attribute_type_is_kept_for_new_files(run_import: RunImport) -> None:
    run_import("email,score:string\nann@example.com,007\n")
    run_import("email,score\nbob@example.com,42\n")
    assert ContactAttribute.objects.get(contact__email="bob@example.com").field_value == "42"


def test_invalid_rows_are_reported_with_line_numbers(run_import: RunImport) -> None:
    job = run_import("email,name\nann@example.com,A\nnot-an-email,B\n\nbob@example.com,C\n,D\n")
    rows = _error_rows(job)
    assert [(r["line"], r["reason"]) for r in rows] == [
        ("3", "invalid email 'not-an-email'"),
        ("6", "missing email"),
    ]


def test_line_numbers_count_quoted_newlines(run_import: RunImport) -> None:
    job = run_import('email,notes\nann@example.com,"a\nb\nc"\nbad,x\n')
    assert _error_rows(job)[0]["line"] == "5"


def test_duplicate_emails_in_one_file_last_wins_and_are_counted(run_import: RunImport) -> None:
    job = run_import("email,first_name\nann@example.com,First\nANN@example.com,Second\nbob@example.com,Bob\n")
    assert (job.created, job.skipped) == (2, 1)
    assert Contact.objects.get(email="ann@example.com").first_name == "Second"


def test_counts_add_up_to_rows_read(run_import: RunImport) -> None:
    make_contact(email="old@example.com", first_name="Old")
    make_contact(email="same@example.com", first_name="Same", last_name="X")
    job = run_import(
        "email,first_name,last_name\n"
        "new@example.com,New,A\nold@example.com,Changed,A\nsame@example.com,Same,X\n"
        "dup@example.com,One,A\ndup@example.com,Two,A\nbroken,B,C\n"
    )
    assert _counts(job) == {"created": 2, "updated": 1, "unchanged": 1, "skipped": 1, "errors": 1}
    assert sum(_counts(job).values()) == job.rows_total == 6


def test_reimporting_the_same_file_changes_nothing(run_import: RunImport) -> None:
    data = "email,first_name,age\nann@example.com,Ann,41\nbob@example.com,Bob,30\n"
    run_import(data)
    before = list(Contact.objects.values_list("id", "email", "first_name", "updated_at"))
    attributes_before = list(ContactAttribute.objects.values_list("id", "field_value", "updated_at"))
    job = run_import(data)
    assert _counts(job) == {"created": 0, "updated": 0, "unchanged": 2, "skipped": 0, "errors": 0}
    assert list(Contact.objects.values_list("id", "email", "first_name", "updated_at")) == before
    assert list(ContactAttribute.objects.values_list("id", "field_value", "updated_at")) == attributes_before


def test_changed_attribute_alone_counts_as_update(run_import: RunImport) -> None:
    run_import("email,age\nann@example.com,41\n")
    job = run_import("email,age\nann@example.com,42\n")
    assert (job.updated, job.unchanged) == (1, 0)
    assert ContactAttribute.objects.get(field_name="age").field_value == 42


def test_blank_cell_keeps_the_stored_value(run_import: RunImport) -> None:
    make_contact(email="ann@example.com", first_name="Ann", mobile="+44 1")
    run_import("email,first_name,mobile\nann@example.com,,\n")
    contact = Contact.objects.get(email="ann@example.com")
    assert (contact.first_name, contact.mobile) == ("Ann", "+44 1")


def test_lms_lead_id_matches_an_existing_contact_and_updates_its_email(run_import: RunImport) -> None:
    contact = make_contact(email="old@example.com", lms_lead_id="L-1")
    job = run_import("email,lms_lead_id\nnew@example.com,L-1\n")
    contact.refresh_from_db()
    assert (job.created, job.updated, contact.email) == (0, 1, "new@example.com")


def test_lms_lead_id_of_another_contact_is_a_row_error(run_import: RunImport) -> None:
    make_contact(email="ann@example.com", lms_lead_id="L-1")
    make_contact(email="bob@example.com")
    job = run_import("email,lms_lead_id\nbob@example.com,L-1\n")
    assert job.errors == 1
    assert "belongs to another contact (ann@example.com)" in _error_rows(job)[0]["reason"]
    assert Contact.objects.get(email="bob@example.com").lms_lead_id is None


def test_import_never_resubscribes_an_unsubscribed_contact(run_import: RunImport) -> None:
    make_contact(email="ann@example.com", status=Contact.Status.UNSUBSCRIBED)
    run_import("email,status\nann@example.com,subscribed\n")
    assert Contact.objects.get(email="ann@example.com").status == Contact.Status.UNSUBSCRIBED


def test_import_can_unsubscribe(run_import: RunImport) -> None:
    make_contact(email="ann@example.com")
    run_import("email,status\nann@example.com,unsubscribed\n")
    contact = Contact.objects.get(email="ann@example.com")
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert contact.unsubscribed_at is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"first_name,last_name\nAnn,Lee\n", "no email column"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        (b"email\n", "header but no rows"),
    ],
    ids=["empty", "no-email-column", "binary", "header-only"],
)
def test_unreadable_file_fails_with_one_message_and_imports_nothing(
    run_import: RunImport, data: bytes, message: str
) -> None:
    job = run_import(data)
    assert job.status == ImportJob.Status.FAILED
    assert message in job.message
    assert Contact.objects.count() == 0


def test_batch_records_who_came_from_the_upload(run_import: RunImport) -> None:
    batch = Batch.objects.create(name="Spring")
    make_contact(email="old@example.com")
    job = run_import("email\nold@example.com\nnew@example.com\n", batch=batch)
    members = BatchMember.objects.filter(batch=batch)
    assert sorted(m.contact.email for m in members) == ["new@example.com", "old@example.com"]
    assert {m.import_job_id for m in members} == {job.pk}


def test_progress_reaches_the_file_size(run_import: RunImport) -> None:
    job = run_import("email\nann@example.com\n")
    assert job.bytes_processed == job.bytes_total > 0
    assert job.percent == 100


def test_running_a_finished_job_again_does_nothing(run_import: RunImport) -> None:
    from contacts.services import import_job_run

    job = run_import("email\nann@example.com\n")
    again = import_job_run(job_id=job.pk)
    assert (again.status, again.created, Contact.objects.count()) == (ImportJob.Status.DONE, 1, 1)


def test_record_with_more_fields_than_the_header_is_a_row_error(run_import: RunImport) -> None:
    job = run_import("email,first_name\nann@example.com,Ann,extra\nbob@example.com,Bob,\n")
    assert (job.created, job.errors) == (1, 1)
    assert _error_rows(job)[0]["reason"] == "3 fields but the header has 2"


def test_short_record_reads_missing_fields_as_empty(run_import: RunImport) -> None:
    job = run_import("email,first_name,age\nann@example.com\n")
    assert (job.created, job.errors) == (1, 0)
    assert not ContactAttribute.objects.exists()


def test_too_long_field_is_a_row_error(run_import: RunImport) -> None:
    job = run_import(f"email,mobile\nann@example.com,{'9' * 41}\n")
    assert _error_rows(job)[0]["reason"] == "mobile is longer than 40 characters"


def test_unknown_status_is_a_row_error(run_import: RunImport) -> None:
    job = run_import("email,status\nann@example.com,maybe\n")
    assert _error_rows(job)[0]["reason"] == "unknown status 'maybe'"


def test_header_names_cannot_inject_code(run_import: RunImport) -> None:
    job = run_import("email,\"x'); import os; ('\"\nann@example.com,1\n")
    assert job.status == ImportJob.Status.DONE
    assert ContactAttribute.objects.get().field_name == "x_import_os"


def test_delimiters_inside_quoted_header_names_do_not_count(run_import: RunImport) -> None:
    run_import('email,"a; b; c"\nann@example.com,x\n')
    assert ContactAttribute.objects.get().field_name == "a_b_c"


def test_task_called_twice_imports_once(settings: pytest.FixtureRequest, tmp_path: object) -> None:
    from django.core.files.base import ContentFile

    from contacts.services import import_job_create
    from contacts.tasks import import_job_run_task

    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]
    job = import_job_create(file=ContentFile(b"email\nann@example.com\n"), original_name="a.csv", start=False)
    assert import_job_run_task(job.pk) == "done"
    assert import_job_run_task(job.pk) == "done"
    job.refresh_from_db()
    assert (job.created, job.unchanged, Contact.objects.count()) == (1, 0, 1)


def test_create_enqueues_the_task_after_commit(
    settings: pytest.FixtureRequest,
    tmp_path: object,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.core.files.base import ContentFile

    from contacts import tasks
    from contacts.services import import_job_create

    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]
    queued: list[int] = []
    monkeypatch.setattr(tasks.import_job_run_task, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(file=ContentFile(b"email\nann@example.com\n"), original_name="a.csv")
    assert queued == [job.pk]


def test_excel_unicode_text_export_utf16_tab_is_read(run_import: RunImport) -> None:
    job = run_import("Email\tFirst Name\r\nzoe@example.com\tZoë\r\n".encode("utf-16"))
    assert job.status == ImportJob.Status.DONE
    assert Contact.objects.get(email="zoe@example.com").first_name == "Zoë"


def test_an_import_runs_with_the_collector_held_back_and_gives_it_back(
    run_import: RunImport, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = contact_services._import_file

    def spy(*args: object, **kwargs: object) -> str:
        seen.append(gc.get_threshold()[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(contact_services, "_import_file", spy)
    before = gc.get_threshold()

    job = run_import("email\nann@example.com\n")

    assert job.status == ImportJob.Status.DONE
    assert seen == [BULK_THRESHOLD]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
