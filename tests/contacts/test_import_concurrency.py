from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from django.db import connection

from contacts import services
from contacts.importing import pipeline
from contacts.models import Contact, ContactAttribute, ImportJob


@pytest.fixture(autouse=True)
def _media(settings: pytest.FixtureRequest, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]


def _csv(start: int, stop: int, plan: str) -> bytes:
    rows = "".join(f"user{i}@example.com,User{i},{plan}\n" for i in range(start, stop))
    return ("email,first_name,plan\n" + rows).encode()


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_imports_at_once_both_finish() -> None:
    jobs = [
        services.import_job_create(file=io.BytesIO(_csv(0, 3000, "a")), original_name="a.csv", start=False),
        services.import_job_create(file=io.BytesIO(_csv(2000, 5000, "b")), original_name="b.csv", start=False),
    ]
    errors: list[BaseException] = []

    def run(job_id: int) -> None:
        try:
            services.import_job_run(job_id=job_id)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job.pk,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    finished = list(ImportJob.objects.order_by("pk"))
    assert errors == []
    assert [job.status for job in finished] == ["done", "done"]
    assert Contact.objects.count() == 5000
    assert ContactAttribute.objects.filter(field_name="plan").count() == 5000
    for job in finished:
        assert job.created + job.updated + job.unchanged + job.skipped + job.errors == job.rows_total == 3000


@pytest.mark.django_db
def test_progress_is_written_while_the_file_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 100)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 0)
    job = services.import_job_create(file=io.BytesIO(_csv(0, 5000, "a")), original_name="a.csv", start=False)
    seen: list[tuple[int, int]] = []

    def record(current: ImportJob) -> None:
        stored = ImportJob.objects.get(pk=current.pk)
        seen.append((stored.rows_processed, stored.bytes_processed))

    services.import_job_run(job_id=job.pk, progress=record)
    rows = [r for r, _ in seen]
    assert len(seen) >= 5
    assert rows == sorted(rows)
    assert 0 < seen[0][1] < job.bytes_total


@pytest.mark.django_db
def test_email_inserted_by_another_import_mid_merge_is_merged_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    from contacts.importing import merge

    original = merge.ContactMerge._insert_new

    def racing_insert(self: merge.ContactMerge, types: dict[str, str]) -> int:
        # Another import commits this email after our match and before our insert.
        Contact.objects.create(email="ann@example.com", first_name="Other")
        return original(self, types)

    monkeypatch.setattr(merge.ContactMerge, "_insert_new", racing_insert)
    job = services.import_job_create(
        file=io.BytesIO(b"email,first_name,plan\nann@example.com,Ann,pro\nbob@example.com,Bob,pro\n"),
        original_name="a.csv",
        start=False,
    )
    job = services.import_job_run(job_id=job.pk)
    ann = Contact.objects.get(email="ann@example.com")
    assert (job.status, job.created, job.updated) == ("done", 1, 1)
    assert ann.first_name == "Ann"
    assert ann.attributes.get(field_name="plan").field_value == "pro"


def _run_stopped_by_an_admin_mid_merge(monkeypatch: pytest.MonkeyPatch, data: bytes) -> ImportJob:
    """Run an import whose job an admin marks failed right after the merge, before the run commits."""
    from contacts.importing.merge import Staging

    original = Staging.merge_contacts
    job = services.import_job_create(file=io.BytesIO(data), original_name="a.csv", start=False)

    def merge_then_stop(self: Staging, **kwargs: object) -> object:
        result = original(self, **kwargs)  # type: ignore[arg-type]
        services.import_job_fail(job_id=job.pk, message="stopped by an admin")
        return result

    monkeypatch.setattr(Staging, "merge_contacts", merge_then_stop)
    return services.import_job_run(job_id=job.pk)


@pytest.mark.django_db
def test_job_marked_failed_mid_merge_rolls_the_merge_back(monkeypatch: pytest.MonkeyPatch) -> None:
    job = _run_stopped_by_an_admin_mid_merge(monkeypatch, b"email\nann@example.com\n")
    # Here the stop shares the run's transaction (one connection), so it is rolled back too and the run writes
    # its own message; from another connection (the admin) the admin's message stays.
    assert job.status == "failed"
    assert "stopped" in job.message
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)  # staging runs in autocommit, as in a worker
def test_a_chunk_postgresql_refuses_in_the_background_copy_raises_in_the_caller() -> None:
    # The staging COPY runs on a second thread; its error must reach the thread that streams (not hang, not vanish).
    from django.db import DataError

    from contacts.importing.merge import Staging

    bad = ("not a line number", "ann@example.com", None, None, None, None, None, None)
    good = (1, "ann@example.com", None, None, None, None, None, None)
    with Staging("contacts") as staging:
        with pytest.raises(DataError), staging.streaming() as write:
            write([bad])
            write([bad])  # a later chunk: raises at once, or at the end when the first error is seen
        with staging.streaming() as write:  # the session is usable again
            write([good])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT email FROM {staging.stage}")
            assert cursor.fetchall() == [("ann@example.com",)]


# --- the side session: a large import writes its new contacts' attributes on a second connection -------------


@pytest.fixture
def side_always(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every import with new contacts takes the side session; returns the statements it was started with."""
    from contacts.importing import merge

    settings.IMPORT_PARALLEL_MIN_CONTACTS = 1
    started: list[str] = []
    original = merge.SideSession.start

    def spy(self: merge.SideSession, statement: str, params: Sequence[Any]) -> None:
        started.append(statement)
        original(self, statement, params)

    monkeypatch.setattr(merge.SideSession, "start", spy)
    return started


def _orphan_attributes() -> int:
    return ContactAttribute.objects.exclude(contact_id__in=Contact.objects.values("pk")).count()


@pytest.mark.django_db(transaction=True)
def test_side_session_writes_the_new_contacts_attributes(side_always: list[str]) -> None:
    job = services.import_job_create(file=io.BytesIO(_csv(0, 300, "pro")), original_name="a.csv", start=False)
    job = services.import_job_run(job_id=job.pk)
    assert len(side_always) == 1
    assert (job.status, job.created) == ("done", 300)
    assert ContactAttribute.objects.filter(field_name="plan", field_value="pro", field_type="string").count() == 300
    assert _orphan_attributes() == 0


@pytest.mark.django_db(transaction=True)
def test_side_session_and_this_one_each_give_every_new_contact_its_own_row_values(side_always: list[str]) -> None:
    # Scores differ per row and the file is not in email order, so a contact paired with another row's attributes
    # (on either side of the side/main split, or through a duplicate) shows up as a wrong score.
    lines = [f"user{i}@example.com,{i * 7}" for i in range(299, -1, -1)] + ["user5@example.com,1000"]
    data = ("email,score\n" + "\n".join(lines) + "\n").encode()
    job = services.import_job_create(file=io.BytesIO(data), original_name="s.csv", start=False)
    job = services.import_job_run(job_id=job.pk)
    assert len(side_always) == 1
    assert (job.status, job.created, job.skipped) == ("done", 300, 1)
    scores = dict(ContactAttribute.objects.filter(field_name="score").values_list("contact__email", "field_value"))
    expected = {f"user{i}@example.com": (1000 if i == 5 else i * 7) for i in range(300)}
    assert scores == expected


@pytest.mark.django_db(transaction=True)
def test_side_session_error_fails_the_whole_import(side_always: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from contacts.importing import merge

    original = merge.SideSession.start
    monkeypatch.setattr(merge.SideSession, "start", lambda self, statement, params: original(self, "SELECT 1/0", ()))
    job = services.import_job_create(file=io.BytesIO(_csv(0, 300, "pro")), original_name="a.csv", start=False)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == "failed"
    assert "division by zero" in job.message
    assert (Contact.objects.count(), ContactAttribute.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_side_session_rolls_back_when_the_main_transaction_does(
    side_always: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _run_stopped_by_an_admin_mid_merge(monkeypatch, _csv(0, 300, "pro"))
    assert len(side_always) == 1  # the side did write the attributes, then rolled them back
    assert job.status == "failed"
    assert (Contact.objects.count(), ContactAttribute.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_side_session_lost_race_puts_attributes_on_the_other_writers_contact(
    side_always: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from contacts.importing import merge

    original = merge.ContactMerge._side_attributes

    def then_race(self: merge.ContactMerge, types: dict[str, str], reserved: int) -> None:
        original(self, types, reserved)
        # Another writer commits one of the new emails after the ids were reserved and the side started.
        with psycopg_connection() as other:
            other.execute(
                "INSERT INTO contacts_contact (email, first_name, last_name, mobile, status, created_at, updated_at) "
                "VALUES ('user7@example.com', 'Other', '', '', 'subscribed', now(), now())"
            )

    monkeypatch.setattr(merge.ContactMerge, "_side_attributes", then_race)
    job = services.import_job_create(file=io.BytesIO(_csv(0, 300, "pro")), original_name="a.csv", start=False)
    job = services.import_job_run(job_id=job.pk)
    assert (job.status, job.created, job.updated) == ("done", 299, 1)
    winner = Contact.objects.get(email="user7@example.com")
    assert winner.first_name == "User7"
    assert winner.attributes.get(field_name="plan").field_value == "pro"
    assert ContactAttribute.objects.count() == 300
    assert _orphan_attributes() == 0


def psycopg_connection() -> psycopg.Connection[Any]:
    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    return psycopg.connect(**params, autocommit=True)


@pytest.mark.django_db(transaction=True)
def test_side_commit_failure_fails_the_job_and_says_how_to_recover(
    side_always: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from contacts.importing import merge

    def broken_commit(self: merge.SideSession) -> None:
        assert self.conn is not None
        self.wait()
        self.conn.close()  # the side's connection is lost before its commit
        original_commit(self)

    original_commit = merge.SideSession.commit
    monkeypatch.setattr(merge.SideSession, "commit", broken_commit)
    job = services.import_job_create(file=io.BytesIO(_csv(0, 300, "pro")), original_name="a.csv", start=False)
    job = services.import_job_run(job_id=job.pk)
    assert job.status == "failed"
    assert "Import the same file again" in job.message
    assert Contact.objects.count() == 300
    assert ContactAttribute.objects.count() < 300
