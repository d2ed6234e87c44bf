"""Issue 13 §4: every CSV Herald writes defuses formula cells; every path that takes an email checks its syntax."""

from __future__ import annotations

import csv
import io

import pytest
import tablib
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from contacts.admin import ContactAdmin, ContactResource
from contacts.csvsafe import csv_safe, safe_writer
from contacts.forms import ContactForm
from contacts.models import Contact
from tests.contacts.conftest import make_contact

BAD_EMAIL = "'3tldjt@hmzwdtjsx.maepg=hasnub9mtrwn"


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.5", "-12.5"),
        ("1,234", "1,234"),
        ("Ann", "Ann"),
        ("", ""),
        (42, 42),
        (None, None),
    ],
)
def test_csv_safe_defuses_formula_cells_and_keeps_plain_values(cell: object, written: object) -> None:
    assert csv_safe(cell) == written


def test_safe_writer_escapes_every_cell_of_every_row() -> None:
    out = io.StringIO()
    safe_writer(out).writerows([["=1", "a"], ["b", "@x"]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["'=1", "a"], ["b", "'@x"]]


@pytest.mark.django_db
def test_admin_contact_export_defuses_formula_cells() -> None:
    make_contact(email="evil@example.com", first_name='=HYPERLINK("http://evil.example")', last_name="@SUM(1)")
    assert ContactResource in ContactAdmin.resource_classes
    exported = ContactResource().export(Contact.objects.all())
    rows = list(csv.DictReader(io.StringIO(exported.csv)))
    assert rows[0]["first_name"] == '\'=HYPERLINK("http://evil.example")'
    assert rows[0]["last_name"] == "'@SUM(1)"
    assert rows[0]["email"] == "evil@example.com"


@pytest.mark.django_db
def test_admin_export_download_defuses_formula_cells(superuser_client: Client) -> None:
    make_contact(email="evil@example.com", first_name="=1+2")
    response = superuser_client.post(
        "/admin/contacts/contact/export/",
        {"format": "0", "resource": "0", "contactresource_email": "on", "contactresource_first_name": "on"},
    )
    assert response.status_code == 200, response.content[:500]
    assert b"'=1+2" in response.content
    assert b",=1+2" not in response.content


@pytest.fixture
def superuser_client(db: None, settings: pytest.FixtureRequest) -> Client:
    settings.AXES_ENABLED = False  # type: ignore[attr-defined]  # force_login's bare request has no client IP
    user = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_bulk_upsert_rejects_an_email_the_validator_rejects(api: APIClient) -> None:
    response = api.post("/api/v1/contacts/bulk", {"contacts": [{"email": BAD_EMAIL}]}, format="json")
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "error"
    assert "invalid email" in response.json()["results"][0]["error"]
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_event_by_an_invalid_email_is_an_item_error(api: APIClient) -> None:
    response = api.post("/api/v1/events", {"email": BAD_EMAIL, "to_stage": "lead"}, format="json")
    assert response.json()["results"][0]["status"] == "error"
    assert "invalid email" in response.json()["results"][0]["error"]


@pytest.mark.django_db
def test_event_with_a_contact_id_beyond_bigint_is_an_item_error_not_a_500(api: APIClient) -> None:
    response = api.post("/api/v1/events", {"contact_id": 2**63, "to_stage": "lead"}, format="json")
    assert response.status_code == 200
    assert response.json()["results"][0]["error"] == f"contact id {2**63!r} is out of range"


@pytest.mark.django_db
def test_contact_form_rejects_an_email_the_validator_rejects() -> None:
    form = ContactForm(data={"email": BAD_EMAIL})
    assert not form.is_valid()
    assert "email" in form.errors


@pytest.mark.django_db
def test_the_import_export_resource_imports_nothing_itself() -> None:
    # Imports go through the product import (its rules, its counts); the resource is for exports.
    dataset = tablib.Dataset(["ok@example.com", "Ann"], [BAD_EMAIL, "Eve"], headers=["email", "first_name"])
    result = ContactResource().import_data(dataset, dry_run=False, raise_errors=False)
    assert result.has_errors()
    assert not Contact.objects.filter(first_name__in=["Ann", "Eve"]).exists()
