"""On PostgreSQL a contacts import merges chunk by chunk (while the next chunk is parsed) in one transaction.
These tests cut files into chunks of two rows so every rule is exercised across chunk boundaries."""

from __future__ import annotations

import pytest

from contacts.importing import pipeline
from contacts.models import Batch, BatchMember, Contact, ContactAttribute, ImportJob
from tests.contacts.conftest import RunImport, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "MERGE_CHUNK_ROWS", 2)


def _counts(job: ImportJob) -> tuple[int, int, int, int, int]:
    return (job.created, job.updated, job.unchanged, job.skipped, job.errors)


def test_duplicate_in_a_later_chunk_wins_and_is_counted_once(run_import: RunImport) -> None:
    job = run_import(
        "email,first_name,plan\nann@example.com,First,a\nbob@example.com,Bob,b\ncat@example.com,Cat,c\n"
        "ann@example.com,Last,z\n"
    )
    ann = Contact.objects.get(email="ann@example.com")
    assert _counts(job) == (3, 0, 0, 1, 0)
    assert ann.first_name == "Last"
    assert ann.attributes.get(field_name="plan").field_value == "z"


def test_counts_add_up_across_chunks(run_import: RunImport) -> None:
    make_contact(email="old@example.com", first_name="Old")
    make_contact(email="same@example.com", first_name="Same")
    job = run_import(
        "email,first_name\nnew@example.com,New\nold@example.com,Changed\nsame@example.com,Same\n"
        "broken,X\nsame@example.com,Same\nnew@example.com,Newer\nold@example.com,Changed\n"
    )
    assert _counts(job) == (1, 1, 1, 3, 1)
    assert sum(_counts(job)) == job.rows_total == 7
    assert Contact.objects.get(email="new@example.com").first_name == "Newer"


def test_unchanged_then_changed_in_a_later_chunk_counts_as_updated(run_import: RunImport) -> None:
    make_contact(email="ann@example.com", first_name="Ann")
    job = run_import("email,first_name\nann@example.com,Ann\nbob@example.com,Bob\nann@example.com,Anna\n")
    assert _counts(job) == (1, 1, 0, 1, 0)


def test_reimport_in_chunks_changes_nothing(run_import: RunImport) -> None:
    data = "email,age\n" + "".join(f"u{i}@example.com,{i}\n" for i in range(7))
    run_import(data)
    before = list(Contact.objects.values_list("id", "updated_at"))
    job = run_import(data)
    assert _counts(job) == (0, 0, 7, 0, 0)
    assert list(Contact.objects.values_list("id", "updated_at")) == before


def test_lead_id_of_a_contact_created_in_an_earlier_chunk_matches(run_import: RunImport) -> None:
    job = run_import(
        "email,lms_lead_id\nann@example.com,L-1\nbob@example.com,\ncat@example.com,\nann.new@example.com,L-1\n"
    )
    assert _counts(job) == (3, 0, 0, 1, 0)
    assert Contact.objects.get(lms_lead_id="L-1").email == "ann.new@example.com"


def test_batch_gets_every_contact_once_across_chunks(run_import: RunImport) -> None:
    batch = Batch.objects.create(name="Chunks")
    run_import("email\na@example.com\nb@example.com\nc@example.com\na@example.com\n", batch=batch)
    assert BatchMember.objects.filter(batch=batch).count() == 3


def test_attribute_names_from_a_json_column_in_later_chunks(run_import: RunImport) -> None:
    run_import(
        'email,attributes\na@example.com,"{""x"": 1}"\nb@example.com,"{""x"": 2}"\nc@example.com,"{""y"": true}"\n'
    )
    assert dict(ContactAttribute.objects.values_list("field_name", "field_type").distinct()) == {
        "x": "numeric",
        "y": "boolean",
    }


def test_error_in_a_late_chunk_is_reported_with_its_line(run_import: RunImport) -> None:
    job = run_import("email\na@example.com\nb@example.com\nc@example.com\nd@example.com\nbroken\n")
    assert (job.created, job.errors) == (4, 1)
    with job.error_report.open("rb") as f:
        assert f.read().decode().splitlines()[1].startswith("6,invalid email")
