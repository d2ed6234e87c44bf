"""The import detail page lists rejected rows; the customer pages say "External id" and end breadcrumbs cleanly."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from contacts import services
from contacts.models import ImportJob
from tests.contacts.conftest import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: pytest.FixtureRequest, tmp_path: object) -> None:
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _finished_import(data: bytes) -> ImportJob:
    job = services.import_job_create(file=SimpleUploadedFile("p.csv", data), original_name="p.csv", start=False)
    return services.import_job_run(job_id=job.pk)


def test_import_detail_lists_rejected_rows_with_line_and_reason(viewer: User) -> None:
    job = _finished_import(b"email\nann@example.com\nbad\nalso-bad\n")
    response = _client(viewer).get(reverse("contacts:import-detail", args=[job.pk]))
    errors = response.context["import_errors"]
    assert [(e.line, e.reason) for e in errors] == [("3", "invalid email 'bad'"), ("4", "invalid email 'also-bad'")]
    body = response.content.decode()
    assert "Rows not imported" in body
    assert "invalid email &#x27;also-bad&#x27;" in body


def test_import_detail_shows_only_the_first_100_errors_and_links_the_rest(viewer: User) -> None:
    job = _finished_import(b"email\n" + b"".join(b"bad%d\n" % i for i in range(130)))
    response = _client(viewer).get(reverse("contacts:import-detail", args=[job.pk]))
    errors = response.context["import_errors"]
    assert len(errors) == 100
    assert (errors[0].line, errors[-1].line) == ("2", "101")
    body = response.content.decode()
    assert "the first 100 of 130" in body
    assert reverse("contacts:import-errors", args=[job.pk]) in body


def test_import_progress_partial_brings_the_error_list_when_the_job_finishes(viewer: User) -> None:
    job = _finished_import(b"email\nbad\n")
    body = _client(viewer).get(reverse("contacts:import-progress", args=[job.pk])).content.decode()
    assert 'id="import-errors"' in body
    assert "invalid email" in body


def test_import_without_errors_shows_no_error_list(viewer: User) -> None:
    job = _finished_import(b"email\nann@example.com\n")
    body = _client(viewer).get(reverse("contacts:import-detail", args=[job.pk])).content.decode()
    assert 'id="import-errors"' not in body


def test_customer_pages_say_external_id_not_lms_lead_id(manager: User) -> None:
    contact = make_contact(lms_lead_id="L-9")
    client = _client(manager)
    for url in (
        reverse("contacts:list"),
        reverse("contacts:detail", args=[contact.pk]),
        reverse("contacts:edit", args=[contact.pk]),
        reverse("contacts:create"),
    ):
        body = client.get(url).content.decode()
        assert "External id" in body, url
        assert not re.search(r"LMS lead id|Lead id", body, re.IGNORECASE), url


def test_customer_breadcrumb_does_not_end_in_a_separator(viewer: User) -> None:
    contact = make_contact(email="ann@example.com")
    body = _client(viewer).get(reverse("contacts:detail", args=[contact.pk])).content.decode()
    assert "Customers</a> /" not in body
    assert '<li class="breadcrumb-item active" aria-current="page">ann@example.com</li>' in body
