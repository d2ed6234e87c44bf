from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from contacts import services
from contacts.models import Batch, BatchMember, Contact, ContactAttribute, FunnelEvent, ImportJob
from tests.contacts.conftest import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: pytest.FixtureRequest, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]


def test_bulk_upsert_creates_and_updates_with_attributes(api: APIClient) -> None:
    make_contact(email="old@example.com", first_name="Old")
    response = api.post(
        "/api/v1/contacts/bulk",
        {
            "contacts": [
                {"email": "new@example.com", "first_name": "New", "attributes": {"score": 5, "vip": True}},
                {"email": "OLD@example.com", "first_name": "Renamed"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    assert [r["status"] for r in response.json()["results"]] == ["created", "updated"]
    assert Contact.objects.get(email="old@example.com").first_name == "Renamed"
    attributes = dict(ContactAttribute.objects.values_list("field_name", "field_type"))
    assert attributes == {"score": "numeric", "vip": "boolean"}


def test_bulk_upsert_reports_invalid_items_and_keeps_the_others(api: APIClient) -> None:
    response = api.post("/api/v1/contacts/bulk", [{"email": "nope"}, {"email": "ok@example.com"}], format="json")
    results = response.json()["results"]
    assert (results[0]["status"], results[0]["error"]) == ("error", "invalid email 'nope'")
    assert results[1]["status"] == "created"
    assert results[1]["id"] == Contact.objects.get(email="ok@example.com").pk


def test_bulk_upsert_same_payload_twice_is_unchanged(api: APIClient) -> None:
    payload = {"contacts": [{"email": "a@example.com", "attributes": {"plan": "pro"}}]}
    api.post("/api/v1/contacts/bulk", payload, format="json")
    response = api.post("/api/v1/contacts/bulk", payload, format="json")
    assert response.json()["results"][0]["status"] == "unchanged"


def test_bulk_upsert_rejects_more_than_1000(api: APIClient) -> None:
    items = [{"email": f"u{i}@example.com"} for i in range(1001)]
    response = api.post("/api/v1/contacts/bulk", {"contacts": items}, format="json")
    assert response.status_code == 400
    assert Contact.objects.count() == 0


def test_bulk_upsert_adds_to_batch(api: APIClient) -> None:
    batch = Batch.objects.create(name="API batch", source=Batch.Source.API)
    api.post("/api/v1/contacts/bulk", {"contacts": [{"email": "a@example.com"}], "batch": batch.pk}, format="json")
    assert BatchMember.objects.filter(batch=batch, contact__email="a@example.com").exists()


def test_bulk_attribute_of_wrong_type_is_an_item_error(api: APIClient) -> None:
    api.post("/api/v1/contacts/bulk", [{"email": "a@example.com", "attributes": {"score": 5}}], format="json")
    response = api.post(
        "/api/v1/contacts/bulk", [{"email": "b@example.com", "attributes": {"score": "high"}}], format="json"
    )
    result = response.json()["results"][0]
    assert result["status"] == "error"
    assert "not a number" in result["error"]


def test_viewer_cannot_bulk_upsert(viewer_api: APIClient) -> None:
    response = viewer_api.post("/api/v1/contacts/bulk", [{"email": "a@example.com"}], format="json")
    assert response.status_code == 403
    assert Contact.objects.count() == 0


def test_post_one_event(api: APIClient) -> None:
    contact = make_contact(email="ann@example.com")
    response = api.post(
        "/api/v1/events", {"email": "ann@example.com", "funnel_type": "sales", "to_stage": "applied"}, format="json"
    )
    assert response.status_code == 201
    assert FunnelEvent.objects.get().contact_id == contact.pk


def test_post_a_list_of_events_by_contact_id(api: APIClient) -> None:
    contact = make_contact()
    events = [
        {"contact_id": contact.pk, "to_stage": "lead", "created_at": "2024-01-01T00:00:00Z"},
        {"contact_id": contact.pk, "from_stage": "lead", "to_stage": "won", "created_at": "2024-01-02T00:00:00Z"},
    ]
    response = api.post("/api/v1/events", events, format="json")
    assert response.json()["counts"] == {"created": 2}


def test_post_an_event_with_an_amount_keeps_it(api: APIClient) -> None:
    make_contact(email="ann@example.com")
    response = api.post(
        "/api/v1/events", {"email": "ann@example.com", "to_stage": "converted", "amount": "49.90"}, format="json"
    )
    assert response.status_code == 201
    assert str(FunnelEvent.objects.get().amount) == "49.90"


@pytest.mark.parametrize(
    ("amount", "reason"),
    [(-1, "negative"), ("ten", "not a number"), ("1.005", "more than 2 decimals"), (True, "not a number")],
)
def test_event_with_a_bad_amount_is_an_item_error(api: APIClient, amount: object, reason: str) -> None:
    make_contact(email="ann@example.com")
    events = [
        {"email": "ann@example.com", "to_stage": "converted", "amount": amount},
        {"email": "ann@example.com", "to_stage": "lead", "amount": 12},
    ]
    results = api.post("/api/v1/events", events, format="json").json()["results"]
    assert results[0]["status"] == "error" and reason in results[0]["error"]
    assert results[1]["status"] == "created"
    assert list(FunnelEvent.objects.values_list("to_stage", "amount")) == [("lead", Decimal("12.00"))]


def test_contact_detail_api_shows_an_event_amount(viewer_api: APIClient) -> None:
    contact = make_contact()
    FunnelEvent.objects.create(contact=contact, funnel_type="sales", to_stage="converted", amount=Decimal("7.5"))
    body = viewer_api.get(f"/api/v1/contacts/{contact.pk}").json()
    assert body["events"][0]["amount"] == "7.50"


def test_event_for_unknown_contact_is_an_item_error(api: APIClient) -> None:
    response = api.post("/api/v1/events", [{"email": "ghost@example.com", "to_stage": "lead"}], format="json")
    assert response.status_code == 200
    assert response.json()["results"][0]["error"] == "no contact with email 'ghost@example.com'"


def test_viewer_cannot_post_events(viewer_api: APIClient) -> None:
    contact = make_contact()
    response = viewer_api.post("/api/v1/events", {"contact_id": contact.pk, "to_stage": "x"}, format="json")
    assert response.status_code == 403
    assert not FunnelEvent.objects.exists()


def test_contact_list_searches_by_email_prefix(viewer_api: APIClient) -> None:
    make_contact(email="ann@example.com")
    make_contact(email="bob@example.com")
    response = viewer_api.get("/api/v1/contacts", {"search": "ann@"})
    assert [c["email"] for c in response.json()["results"]] == ["ann@example.com"]


def test_contact_list_filters_by_status(viewer_api: APIClient) -> None:
    make_contact(email="ann@example.com", status=Contact.Status.UNSUBSCRIBED)
    make_contact(email="bob@example.com")
    response = viewer_api.get("/api/v1/contacts", {"status": "unsubscribed"})
    assert [c["email"] for c in response.json()["results"]] == ["ann@example.com"]


def test_contact_list_is_cursor_paginated_without_count(viewer_api: APIClient) -> None:
    for i in range(3):
        make_contact(email=f"u{i}@example.com")
    first = viewer_api.get("/api/v1/contacts", {"page_size": 2}).json()
    second = viewer_api.get(first["next"]).json()
    assert "count" not in first
    assert [c["email"] for c in first["results"] + second["results"]] == [
        "u2@example.com",
        "u1@example.com",
        "u0@example.com",
    ]


def test_contact_detail_has_attributes_and_events(viewer_api: APIClient) -> None:
    contact = make_contact(email="ann@example.com")
    ContactAttribute.objects.create(contact=contact, field_name="plan", field_type="string", field_value="pro")
    FunnelEvent.objects.create(
        contact=contact, funnel_type="sales", to_stage="won", created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    body = viewer_api.get(f"/api/v1/contacts/{contact.pk}").json()
    assert body["attributes"][0]["field_name"] == "plan"
    assert body["events"][0]["to_stage"] == "won"


def test_contact_detail_404(viewer_api: APIClient) -> None:
    assert viewer_api.get("/api/v1/contacts/999999").status_code == 404


def test_post_import_creates_a_pending_job(api: APIClient) -> None:
    upload = SimpleUploadedFile("people.csv", b"email\nann@example.com\n", content_type="text/csv")
    response = api.post("/api/v1/imports", {"file": upload, "kind": "contacts"}, format="multipart")
    assert response.status_code == 202
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert (job.status, job.original_name, job.bytes_total) == ("pending", "people.csv", 22)


def test_viewer_cannot_post_import(viewer_api: APIClient) -> None:
    upload = SimpleUploadedFile("people.csv", b"email\nann@example.com\n")
    assert viewer_api.post("/api/v1/imports", {"file": upload}, format="multipart").status_code == 403
    assert not ImportJob.objects.exists()


def test_get_import_shows_counts_and_error_report(viewer_api: APIClient) -> None:
    job = services.import_job_create(
        file=SimpleUploadedFile("p.csv", b"email\nann@example.com\nbroken\n"), original_name="p.csv", start=False
    )
    services.import_job_run(job_id=job.pk)
    body = viewer_api.get(f"/api/v1/imports/{job.pk}").json()
    assert (body["status"], body["percent"], body["created"], body["errors"]) == ("done", 100, 1, 1)
    report = viewer_api.get(body["error_report_url"])
    assert b"".join(report.streaming_content).decode().splitlines()[1].startswith("3,invalid email")  # type: ignore[attr-defined]


def test_bulk_upsert_duplicate_email_last_item_wins(api: APIClient) -> None:
    response = api.post(
        "/api/v1/contacts/bulk",
        [{"email": "a@example.com", "first_name": "One"}, {"email": "A@example.com", "first_name": "Two"}],
        format="json",
    )
    assert [r["status"] for r in response.json()["results"]] == ["skipped", "created"]
    assert Contact.objects.get().first_name == "Two"


def test_a_trailing_slash_reads_the_same_list(api: APIClient) -> None:
    make_contact(email="ann@example.com")

    with_slash = api.get("/api/v1/contacts/")

    assert with_slash.status_code == 200
    assert with_slash.json() == api.get("/api/v1/contacts").json()


def test_a_trailing_slash_keeps_a_posts_body(api: APIClient) -> None:
    response = api.post("/api/v1/contacts/bulk/", {"contacts": [{"email": "ann@example.com"}]}, format="json")

    assert response.status_code == 200
    assert Contact.objects.filter(email="ann@example.com").exists()
