"""Issue 18 §2: the data-subject export (JSON and CSV zip) from the service, the dashboard, the API, the command."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import reverse

from contacts.models import Contact
from privacy import services
from tests.privacy.conftest import ADDRESS, TARGET


@pytest.mark.django_db
def test_export_holds_every_section(person: Contact) -> None:
    data = services.gdpr_export(email=TARGET)

    assert data["contact"]["email"] == ADDRESS
    assert data["contact"]["mobile"] == "+44 7700 900123"
    assert {a["name"]: a["value"] for a in data["attributes"]} == {"plan": "gold"}
    assert [e["to_stage"] for e in data["funnel_events"]] == ["signed_up"]
    assert [c["action"] for c in data["consent"]] == ["subscribe", "unsubscribe", "resubscribe"]
    assert data["consent"][1]["ip"] == "203.0.113.9"
    assert len(data["deliveries"]) == 1 and len(data["outbox"]) == 1 and len(data["webhook_events"]) == 1
    assert [j["journey__name"] for j in data["journey_enrollments"]] == ["Welcome"]


@pytest.mark.django_db
def test_export_of_an_unknown_address_is_refused(db: None) -> None:
    with pytest.raises(services.PersonNotFound):
        services.gdpr_export(email="nobody@privacy-test.example")


@pytest.mark.django_db
def test_export_zip_has_one_csv_per_section(person: Contact) -> None:
    archive = zipfile.ZipFile(io.BytesIO(services.gdpr_export_zip(email=TARGET)))

    names = set(archive.namelist())
    assert {"export.json", "contact.csv", "attributes.csv", "consent.csv", "deliveries.csv"} <= names
    assert ADDRESS in archive.read("contact.csv").decode()


@pytest.mark.django_db
def test_api_export_answers_json_and_csv(person: Contact, viewer_api: Any) -> None:
    response = viewer_api.get(f"/api/v1/contacts/{person.pk}/export")
    assert response.status_code == 200
    assert response.json()["contact"]["id"] == person.pk

    zipped = viewer_api.get(f"/api/v1/contacts/{person.pk}/export?as=csv")
    assert zipped.status_code == 200
    assert zipped["Content-Type"] == "application/zip"


@pytest.mark.django_db
def test_dashboard_export_downloads_json(person: Contact, client: Any, viewer: Any) -> None:
    client.force_login(viewer)

    response = client.get(reverse("privacy:contact-export", args=[person.pk, "json"]))

    assert response.status_code == 200
    assert json.loads(response.content)["contact"]["email"] == ADDRESS


@pytest.mark.django_db
def test_contact_page_offers_export_to_all_and_erase_to_admins(
    person: Contact, client: Any, viewer: Any, admin_user: Any
) -> None:
    client.force_login(viewer)
    page = client.get(reverse("contacts:detail", args=[person.pk])).content.decode()
    assert "Export JSON" in page and "Erase" not in page.split('id="privacy"')[1]

    client.force_login(admin_user)
    page = client.get(reverse("contacts:detail", args=[person.pk])).content.decode()
    assert reverse("privacy:contact-erase", args=[person.pk]) in page


@pytest.mark.django_db
def test_command_writes_the_export(person: Contact, tmp_path: Any) -> None:
    target = tmp_path / "out.zip"

    call_command("gdpr", "export", TARGET, "--format", "csv", "--output", str(target), stderr=io.StringIO())

    assert "consent.csv" in zipfile.ZipFile(target).namelist()
