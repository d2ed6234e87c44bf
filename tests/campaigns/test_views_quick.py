"""The quick campaign wizard (seed 002's one-off send): one form, one campaign, one scenario."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Emailer, Scenario
from contacts.models import BatchMember, ImportJob
from segments.models import Segment

pytestmark = pytest.mark.django_db

S = Scenario.Status


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def segment() -> Segment:
    return Segment.objects.create(name="Members", type=Segment.Type.MANUAL)


def _payload(audience: Segment, /, **overrides: str) -> dict[str, str]:
    payload = {
        "name": "Event reminder",
        "subject": "See you tonight",
        "content": "Doors open at 7.",
        "template": "",
        "audience": "segment",
        "segment": str(audience.pk),
        "when": "now",
        "send_at": "",
        "timezone": "UTC",
    }
    payload.update(overrides)
    return payload


def test_wizard_send_now_creates_campaign_and_sending_scenario(manager: User, segment: Segment) -> None:
    response = _client(manager).post(reverse("campaigns:quick"), _payload(segment))
    campaign = Campaign.objects.get()
    scenario = Scenario.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:scenario-detail", args=[scenario.pk])
    assert campaign.name == "Event reminder"
    assert campaign.segment == segment
    assert campaign.created_by == manager
    assert scenario.campaign == campaign
    assert scenario.subject == "See you tonight"
    assert scenario.status == S.SENDING
    assert Emailer.objects.get(scenario=scenario).dispatched_at is not None


def test_wizard_schedule_later_creates_a_scheduled_scenario_at_that_time(manager: User, segment: Segment) -> None:
    zone = ZoneInfo("America/New_York")
    at = (timezone.now() + dt.timedelta(days=3)).astimezone(zone).replace(hour=18, minute=30, second=0, microsecond=0)
    payload = _payload(segment, when="later", send_at=at.strftime("%Y-%m-%dT%H:%M"), timezone="America/New_York")
    _client(manager).post(reverse("campaigns:quick"), payload)
    campaign = Campaign.objects.get()
    scenario = Scenario.objects.get()
    assert scenario.status == S.SCHEDULED
    assert (scenario.send_date, scenario.send_time) == (at.date(), dt.time(18, 30))
    assert campaign.timezone == "America/New_York"
    assert campaign.start_date <= at.date() <= campaign.end_date


def test_wizard_refuses_a_time_in_the_past_and_creates_nothing(manager: User, segment: Segment) -> None:
    past = (timezone.now() - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = _client(manager).post(reverse("campaigns:quick"), _payload(segment, when="later", send_at=past))
    assert response.status_code == 200
    assert "has already passed" in response.context["form"].errors["send_at"][0]
    assert not Campaign.objects.exists()
    assert not Scenario.objects.exists()


def test_wizard_needs_a_segment_when_the_audience_is_a_segment(manager: User, segment: Segment) -> None:
    response = _client(manager).post(reverse("campaigns:quick"), _payload(segment, segment=""))
    assert response.context["form"].errors["segment"] == ["Choose the segment to send to."]
    assert not Campaign.objects.exists()


def test_wizard_needs_a_file_when_the_audience_is_an_upload(manager: User, segment: Segment) -> None:
    response = _client(manager).post(reverse("campaigns:quick"), _payload(segment, audience="upload", segment=""))
    assert response.context["form"].errors["file"] == ["Choose the CSV file of contacts."]
    assert not Campaign.objects.exists()


def _csv(content: bytes, name: str = "guests.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, "text/csv")


def test_wizard_with_an_upload_imports_then_sends_now(manager: User, segment: Segment) -> None:
    payload: dict[str, object] = {
        **_payload(segment, audience="upload", segment=""),
        "file": _csv(b"name,email\nAnn Lee,ann@example.com\nBob Ray,bob@example.com\n"),
    }
    _client(manager).post(reverse("campaigns:quick"), payload)
    campaign = Campaign.objects.get()
    scenario = Scenario.objects.get()
    assert campaign.segment is None
    assert BatchMember.objects.filter(batch_id=campaign.batch_id).count() == 2
    assert ImportJob.objects.get().batch_id == campaign.batch_id
    assert scenario.status == S.SENDING


def test_wizard_with_an_upload_without_email_column_shows_the_error_and_creates_nothing(
    manager: User, segment: Segment
) -> None:
    payload: dict[str, object] = {
        **_payload(segment, audience="upload", segment=""),
        "file": _csv(b"name,phone\nAnn Lee,555\n"),
    }
    response = _client(manager).post(reverse("campaigns:quick"), payload)
    assert response.status_code == 200
    assert "The file has no email column" in response.context["form"].errors["file"][0]
    assert not Campaign.objects.exists()
    assert not Scenario.objects.exists()
    assert not ImportJob.objects.exists()


def test_wizard_with_a_big_upload_keeps_the_scenario_as_a_draft(
    manager: User, segment: Segment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("campaigns.services.campaigns.INLINE_IMPORT_BYTES", 10)
    payload: dict[str, object] = {
        **_payload(segment, audience="upload", segment=""),
        "file": _csv(b"name,email\nAnn Lee,ann@example.com\n"),
    }
    response = _client(manager).post(reverse("campaigns:quick"), payload, follow=True)
    assert Scenario.objects.get().status == S.DRAFT
    assert ImportJob.objects.get().status == ImportJob.Status.PENDING
    assert "press “Send now” when the import is done" in response.content.decode()
