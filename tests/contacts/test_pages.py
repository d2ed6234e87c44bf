from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts import services
from contacts.models import Batch, BatchMember, ContactAttribute, FunnelEvent, ImportJob
from tests.contacts.conftest import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: pytest.FixtureRequest, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_need_login(client: Client) -> None:
    response = client.get(reverse("contacts:list"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_customer_list_searches_by_email_prefix(viewer: User) -> None:
    make_contact(email="ann@example.com")
    make_contact(email="bob@example.com")
    response = _client(viewer).get(reverse("contacts:list"), {"q": "ann@"})
    assert response.status_code == 200
    assert [c.email for c in response.context["page"].items] == ["ann@example.com"]


def test_customer_list_searches_first_and_last_name(viewer: User) -> None:
    make_contact(email="a@example.com", first_name="Ann", last_name="Lee")
    make_contact(email="b@example.com", first_name="Ann", last_name="Ray")
    response = _client(viewer).get(reverse("contacts:list"), {"q": "ann le"})
    assert [c.email for c in response.context["page"].items] == ["a@example.com"]


def test_customer_list_keyset_pages_cover_every_contact_once(viewer: User) -> None:
    emails = {make_contact(email=f"u{i}@example.com").email for i in range(120)}
    client = _client(viewer)
    seen: list[str] = []
    after = None
    while True:
        response = client.get(reverse("contacts:list"), {"after": after} if after else {})
        page = response.context["page"]
        seen.extend(c.email for c in page.items)
        if not page.has_next:
            break
        after = page.next_after
    assert len(seen) == 120
    assert set(seen) == emails


def test_customer_list_previous_page_returns_the_newer_rows(viewer: User) -> None:
    contacts = [make_contact() for _ in range(60)]
    client = _client(viewer)
    second = client.get(reverse("contacts:list"), {"after": contacts[10].pk}).context["page"]
    back = client.get(reverse("contacts:list"), {"before": second.items[0].pk}).context["page"]
    assert [c.pk for c in back.items] == [c.pk for c in reversed(contacts[10:])]


def _contact_counts(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper() and "contacts_contact" in q["sql"]
    ]


def test_customer_list_total_comes_from_the_planner_estimate(viewer: User) -> None:
    make_contact()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
    with CaptureQueriesContext(connection) as queries:
        response = _client(viewer).get(reverse("contacts:list"))
    assert (response.context["total"], response.context["exact"]) == (1, False)
    assert _contact_counts(queries) == []


def test_customer_search_count_is_capped(viewer: User) -> None:
    make_contact(email="ann@example.com")
    with CaptureQueriesContext(connection) as queries:
        response = _client(viewer).get(reverse("contacts:list"), {"q": "ann@"})
    counts = _contact_counts(queries)
    assert (response.context["total"], response.context["exact"]) == (1, True)
    assert counts
    assert all("LIMIT 1001" in sql for sql in counts)


def test_customer_detail_shows_attributes_and_events(viewer: User) -> None:
    contact = make_contact(email="ann@example.com")
    ContactAttribute.objects.create(contact=contact, field_name="plan", field_type="string", field_value="campus")
    FunnelEvent.objects.create(
        contact=contact, funnel_type="sales", to_stage="enrolled", created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    body = _client(viewer).get(reverse("contacts:detail", args=[contact.pk])).content.decode()
    assert "campus" in body
    assert "enrolled" in body


def test_customer_detail_has_no_edit_controls_for_a_viewer(viewer: User) -> None:
    # Editors get edit / unsubscribe / delete here since issue 12; a Viewer still gets a read-only page.
    contact = make_contact()
    body = _client(viewer).get(reverse("contacts:detail", args=[contact.pk])).content.decode()
    assert "<form" not in body.split("<main", 1)[1]


def test_event_list_searches_by_customer_email(viewer: User) -> None:
    ann, bob = make_contact(email="ann@example.com"), make_contact(email="bob@example.com")
    FunnelEvent.objects.create(contact=ann, funnel_type="sales", to_stage="lead")
    FunnelEvent.objects.create(contact=bob, funnel_type="sales", to_stage="lead")
    response = _client(viewer).get(reverse("contacts:event-list"), {"q": "bob"})
    assert [e.contact.email for e in response.context["page"].items] == ["bob@example.com"]


def test_event_detail_renders(viewer: User) -> None:
    event = FunnelEvent.objects.create(contact=make_contact(), funnel_type="service-delivery", to_stage="onboarded")
    response = _client(viewer).get(reverse("contacts:event-detail", args=[event.pk]))
    assert response.status_code == 200
    assert "onboarded" in response.content.decode()


def test_import_list_shows_upload_form_to_editors_only(manager: User, viewer: User) -> None:
    assert _client(manager).get(reverse("contacts:import-list")).context["form"] is not None
    assert _client(viewer).get(reverse("contacts:import-list")).context["form"] is None


def test_upload_creates_a_job_and_redirects_to_its_progress(manager: User) -> None:
    upload = SimpleUploadedFile("people.csv", b"email\nann@example.com\n")
    response = _client(manager).post(reverse("contacts:import-list"), {"file": upload, "kind": "contacts"})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("contacts:import-detail", args=[job.pk])
    assert (job.status, job.created_by) == (ImportJob.Status.PENDING, manager)


def test_upload_into_a_new_batch(manager: User) -> None:
    upload = SimpleUploadedFile("people.csv", b"email\nann@example.com\n")
    _client(manager).post(
        reverse("contacts:import-list"), {"file": upload, "kind": "contacts", "new_batch_name": "Open day"}
    )
    job = ImportJob.objects.get()
    services.import_job_run(job_id=job.pk)
    assert BatchMember.objects.filter(batch__name="Open day", batch__source=Batch.Source.UPLOAD).count() == 1


def test_viewer_cannot_upload(viewer: User) -> None:
    upload = SimpleUploadedFile("people.csv", b"email\nann@example.com\n")
    response = _client(viewer).post(reverse("contacts:import-list"), {"file": upload, "kind": "contacts"})
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_import_detail_polls_while_running(viewer: User) -> None:
    job = services.import_job_create(
        file=SimpleUploadedFile("p.csv", b"email\nann@example.com\n"), original_name="p.csv", start=False
    )
    body = _client(viewer).get(reverse("contacts:import-detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert reverse("contacts:import-progress", args=[job.pk]) in body


def test_import_progress_stops_polling_when_done(viewer: User) -> None:
    job = services.import_job_create(
        file=SimpleUploadedFile("p.csv", b"email\nann@example.com\nbad\n"), original_name="p.csv", start=False
    )
    services.import_job_run(job_id=job.pk)
    body = _client(viewer).get(reverse("contacts:import-progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in body
    assert "100%" in body
    assert reverse("contacts:import-errors", args=[job.pk]) in body


def test_error_csv_download(viewer: User) -> None:
    job = services.import_job_create(
        file=SimpleUploadedFile("p.csv", b"email\nann@example.com\nbad\n"), original_name="p.csv", start=False
    )
    services.import_job_run(job_id=job.pk)
    response = _client(viewer).get(reverse("contacts:import-errors", args=[job.pk]))
    content = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert response["Content-Type"] == "text/csv"
    assert content.splitlines() == ["line,reason,data", "3,invalid email 'bad',bad"]
