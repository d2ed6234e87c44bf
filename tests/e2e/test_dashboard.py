"""Seed 000 and seed 002 from the dashboard, end to end: pages only (no API), a real Celery worker, the real
`resend` SDK against the local Resend-compatible server, and the live progress partial reporting the result."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Scenario
from scheduler import services as scheduler_services
from segments.models import Segment, SegmentMember
from tests.factories import ContactFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

N = 8


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _wait_settled(scenario_id: int, workers: Any, timeout: float = 60) -> Scenario:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scenario = Scenario.objects.get(pk=scenario_id)
        if scenario.status in (Scenario.Status.SENT, Scenario.Status.FAILED, Scenario.Status.PAUSED):
            return scenario
        time.sleep(0.2)
    raise AssertionError(f"scenario {scenario_id} still {scenario.status} after {timeout}s\n{workers.logs()}")


def test_seed_000_from_the_dashboard(celery_worker: Any, fake_resend: Any, manager: User) -> None:
    client = _client(manager)
    today = timezone.localdate()
    response = client.post(
        reverse("campaigns:create"),
        {
            "name": "Seed 000 from the pages",
            "start_date": str(today - dt.timedelta(days=1)),
            "end_date": str(today + dt.timedelta(days=5)),
            "timezone": "UTC",
            "channel": "email",
            "status": "active",
        },
    )
    campaign = Campaign.objects.get()
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.pk])

    rows = ["name,email"] + [f"Person{i} Tester,person{i}@example.com" for i in range(N)]
    csv_file = SimpleUploadedFile("people.csv", ("\n".join(rows) + "\n").encode(), "text/csv")
    detail = client.post(reverse("campaigns:upload", args=[campaign.pk]), {"file": csv_file}, follow=True)
    assert f'<strong id="batch-size">{N}</strong>' in detail.content.decode()

    due = (timezone.now() + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    client.post(
        reverse("campaigns:scenario-create", args=[campaign.pk]),
        {
            "subject": "Dashboard news",
            "content": "Hello {{ first_name }}.",
            "send_date": str(due.date()),
            "send_time": due.strftime("%H:%M"),
        },
    )
    scenario = Scenario.objects.get()
    assert scenario.status == Scenario.Status.SCHEDULED
    celery_worker.start(concurrency=2)

    assert scheduler_services.tick(now=due).dispatched == 1
    scenario = _wait_settled(scenario.pk, celery_worker)

    emails = [f"person{i}@example.com" for i in range(N)]
    assert scenario.status == Scenario.Status.SENT, celery_worker.logs()
    assert fake_resend.report(emails) == {"received": N, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert "Hello Person3." in fake_resend.messages(to="person3@example.com")[0]["text"]
    partial = client.get(reverse("campaigns:scenario-progress", args=[scenario.pk])).content.decode()
    assert f"<strong>{N}</strong> / {N} sent" in partial
    assert "hx-trigger" not in partial
    refused = client.get(reverse("campaigns:scenario-edit", args=[scenario.pk])).content.decode()
    assert "This scenario is sent; only draft or scheduled scenarios can be edited." in refused


def test_quick_campaign_send_now_reaches_the_segment(celery_worker: Any, fake_resend: Any, manager: User) -> None:
    segment = Segment.objects.create(name="Members", type=Segment.Type.MANUAL)
    members = ContactFactory.create_batch(5)
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=c) for c in members])
    ContactFactory.create()  # not in the segment: must get nothing
    celery_worker.start(concurrency=2)

    _client(manager).post(
        reverse("campaigns:quick"),
        {
            "name": "One-off",
            "subject": "Tonight",
            "content": "Doors open at 7.",
            "audience": "segment",
            "segment": str(segment.pk),
            "when": "now",
            "timezone": "UTC",
        },
    )
    scenario = _wait_settled(Scenario.objects.get().pk, celery_worker)

    assert scenario.status == Scenario.Status.SENT, celery_worker.logs()
    expected = [c.email for c in members]
    assert fake_resend.report(expected) == {"received": 5, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert scenario.contacts_served == 5
