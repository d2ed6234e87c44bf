from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from contacts.models import Batch, BatchMember, Contact, FunnelEvent, ImportJob
from tests.contacts.conftest import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: pytest.FixtureRequest, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("root", "root@example.com", "pass12345")


@pytest.mark.parametrize(
    "url",
    [
        "/admin/contacts/contact/",
        "/admin/contacts/contactattribute/",
        "/admin/contacts/funnelevent/",
        "/admin/contacts/batch/",
        "/admin/contacts/batchmember/",
        "/admin/contacts/importjob/",
        "/admin/contacts/importjob/add/",
    ],
)
def test_admin_pages_render(superuser: User, url: str) -> None:
    make_contact()
    client = Client()
    client.force_login(superuser)
    assert client.get(url).status_code == 200


def test_admin_upload_goes_through_the_import_path(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)
    upload = SimpleUploadedFile("big.csv", b"email\nann@example.com\n")
    response = client.post("/admin/contacts/importjob/add/", {"file": upload, "kind": "contacts"})
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert (job.original_name, job.status, job.bytes_total, job.created_by) == ("big.csv", "pending", 22, superuser)


def test_contacts_import_button_leads_to_the_product_import(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)

    response = client.get("/admin/contacts/contact/import/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/contacts/importjob/add/"


def test_a_file_posted_to_import_exports_import_view_imports_nothing(superuser: User) -> None:
    client = Client()
    client.force_login(superuser)
    upload = SimpleUploadedFile("c.csv", b"email,first_name\nann@example.com,Ann\n")

    response = client.post("/admin/contacts/contact/import/", {"import_file": upload, "format": "0"})

    assert response.status_code == 302
    assert not Contact.objects.filter(email="ann@example.com").exists()


def test_admin_cannot_edit_funnel_events(superuser: User) -> None:
    event = FunnelEvent.objects.create(contact=make_contact(), funnel_type="sales", to_stage="lead")
    client = Client()
    client.force_login(superuser)
    client.post(f"/admin/contacts/funnelevent/{event.pk}/change/", {"to_stage": "won"})
    client.post(f"/admin/contacts/funnelevent/{event.pk}/delete/", {"post": "yes"})
    event.refresh_from_db()
    assert event.to_stage == "lead"


def test_admin_adds_a_funnel_event_with_an_amount_and_refuses_a_negative_one(superuser: User) -> None:
    contact = make_contact()
    client = Client()
    client.force_login(superuser)
    form = {
        "contact": contact.pk,
        "funnel_type": "sales",
        "from_stage": "",
        "to_stage": "converted",
        "created_at_0": "2026-03-01",
        "created_at_1": "10:00:00",
    }
    refused = client.post("/admin/contacts/funnelevent/add/", {**form, "amount": "-5"})
    assert refused.status_code == 200 and not FunnelEvent.objects.exists()
    client.post("/admin/contacts/funnelevent/add/", {**form, "amount": "19.90"})
    assert str(FunnelEvent.objects.get().amount) == "19.90"


def test_command_imports_and_prints_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email,first_name\nann@example.com,Ann\nbroken,X\n")
    out = io.StringIO()
    call_command("contacts_import", str(path), stdout=out)
    assert Contact.objects.get().first_name == "Ann"
    assert "2 rows read" in out.getvalue()
    assert "1 created" in out.getvalue()
    assert "1 errors" in out.getvalue()


def test_command_adds_to_a_batch(tmp_path: Path) -> None:
    batch = Batch.objects.create(name="Cmd")
    path = tmp_path / "people.csv"
    path.write_text("email\nann@example.com\n")
    call_command("contacts_import", str(path), "--batch", str(batch.pk), stdout=io.StringIO())
    assert BatchMember.objects.filter(batch=batch).count() == 1


def test_command_imports_events(tmp_path: Path) -> None:
    make_contact(email="ann@example.com")
    path = tmp_path / "events.csv"
    path.write_text("email,to_stage\nann@example.com,lead\n")
    call_command("contacts_import", str(path), "--kind", "events", stdout=io.StringIO())
    assert FunnelEvent.objects.get().to_stage == "lead"


def test_command_fails_loudly_on_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("name\nAnn\n")
    with pytest.raises(CommandError, match="no email column"):
        call_command("contacts_import", str(path), stdout=io.StringIO())
    assert not Contact.objects.exists()


def test_admin_action_marks_a_stuck_import_failed(superuser: User) -> None:
    job = ImportJob.objects.create(kind="contacts", file="imports/x.csv", status=ImportJob.Status.RUNNING)
    done = ImportJob.objects.create(kind="contacts", file="imports/y.csv", status=ImportJob.Status.DONE)
    client = Client()
    client.force_login(superuser)
    client.post("/admin/contacts/importjob/", {"action": "mark_failed", "_selected_action": [job.pk, done.pk]})
    job.refresh_from_db()
    done.refresh_from_db()
    assert (job.status, done.status) == (ImportJob.Status.FAILED, ImportJob.Status.DONE)


def test_command_prints_progress_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from contacts import services
    from contacts.importing import pipeline

    monkeypatch.setattr(pipeline, "CHUNK_ROWS", 500)
    monkeypatch.setattr(services, "PROGRESS_EVERY", 0)
    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"u{i}@example.com\n" for i in range(3000)))
    out = io.StringIO()
    call_command("contacts_import", str(path), stdout=out)
    progress = [line for line in out.getvalue().splitlines() if line.strip().endswith("bytes")]
    assert len(progress) >= 3
    assert "3,000 rows" in progress[-1]
