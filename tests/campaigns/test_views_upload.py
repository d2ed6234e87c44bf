"""CSV upload into a campaign's batch from its page, through the one contacts import path.

A small file is imported within the request (campaigns.services.campaign_contacts_import); a big one is left
to a worker and the page sends the user to the import's progress page.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, reverse

from contacts.models import BatchMember, ImportJob
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

GOOD_CSV = b"name,email\nAnn Lee,ann@example.com\nBob Ray,bob@example.com\n"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, campaign_id: int, content: bytes, name: str = "people.csv", follow: bool = False) -> object:
    return client.post(
        reverse("campaigns:upload", args=[campaign_id]),
        {"file": SimpleUploadedFile(name, content, "text/csv")},
        follow=follow,
    )


def test_upload_imports_into_the_campaign_batch(manager: User) -> None:
    campaign = CampaignFactory.create()
    response = _post(_client(manager), campaign.pk, GOOD_CSV)
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.pk])  # type: ignore[index]
    assert job.batch_id == campaign.batch_id
    assert job.original_name == "people.csv"
    assert job.created_by == manager
    assert job.status == ImportJob.Status.DONE
    assert BatchMember.objects.filter(batch_id=campaign.batch_id).count() == 2


def test_after_upload_the_page_shows_the_counts_and_the_batch_size(manager: User) -> None:
    campaign = CampaignFactory.create()
    response = _post(_client(manager), campaign.pk, GOOD_CSV, follow=True)
    body = response.content.decode()  # type: ignore[attr-defined]
    assert '<strong id="batch-size">2</strong>' in body
    assert "2 created" in body
    assert reverse("contacts:import-detail", args=[ImportJob.objects.get().pk]) in body


def test_upload_without_email_column_shows_the_import_error(manager: User) -> None:
    campaign = CampaignFactory.create()
    response = _post(_client(manager), campaign.pk, b"name,phone\nAnn Lee,555\n", name="no-email.csv", follow=True)
    body = response.content.decode()  # type: ignore[attr-defined]
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert "no-email.csv was not imported: The file has no email column" in body
    assert "the header has: name, phone" in body
    assert not BatchMember.objects.filter(batch_id=campaign.batch_id).exists()


def test_a_big_upload_goes_to_the_import_progress_page(manager: User, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        reverse("contacts:import-detail", args=[1])
    except NoReverseMatch:
        pytest.fail("contacts:import-detail is not routed yet")
    monkeypatch.setattr("campaigns.services.campaigns.INLINE_IMPORT_BYTES", 10)
    campaign = CampaignFactory.create()
    response = _post(_client(manager), campaign.pk, GOOD_CSV)
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.PENDING
    assert response["Location"] == reverse("contacts:import-detail", args=[job.pk])  # type: ignore[index]


def test_upload_without_a_file_shows_an_error_and_creates_no_job(manager: User) -> None:
    campaign = CampaignFactory.create()
    response = _client(manager).post(reverse("campaigns:upload", args=[campaign.pk]), {}, follow=True)
    assert "This field is required." in response.content.decode()
    assert not ImportJob.objects.exists()


def test_rows_with_errors_are_listed_with_their_line_and_reason(manager: User) -> None:
    campaign = CampaignFactory.create()
    content = b"name,email\nAnn Lee,ann@example.com\nBad Row,not-an-email\nBob Ray,bob@example.com\n"
    response = _post(_client(manager), campaign.pk, content, follow=True)
    body = response.content.decode()  # type: ignore[attr-defined]
    assert BatchMember.objects.filter(batch_id=campaign.batch_id).count() == 2
    assert response.context["latest_errors"] == [("3", "invalid email 'not-an-email'")]  # type: ignore[attr-defined]
    assert 'id="import-errors"' in body
    assert "<td>3</td><td>invalid email &#x27;not-an-email&#x27;</td>" in body
    job = ImportJob.objects.get()
    assert reverse("contacts:import-errors", args=[job.pk]) in body
