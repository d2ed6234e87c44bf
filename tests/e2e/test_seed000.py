"""Seed 000 end to end: API upload, a scenario due at a given time, the tick, a real worker, the real `resend`
SDK against the local Resend-compatible server, the unsubscribe link, and the next scenario without that contact.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Notification
from campaigns.models import Emailer, Scenario
from contacts.models import Contact
from scheduler import services as scheduler_services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

N = 12


def _csv(n: int) -> SimpleUploadedFile:
    rows = ["name,email"] + [f"Person{i} Tester,person{i}@example.com" for i in range(n)]
    return SimpleUploadedFile("people.csv", ("\n".join(rows) + "\n").encode(), content_type="text/csv")


def _next_minute(after: dt.datetime) -> dt.datetime:
    return (after + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)


def _create_scenario(api: APIClient, campaign_id: int, subject: str) -> tuple[int, dt.datetime]:
    due = _next_minute(timezone.now())
    response = api.post(
        "/api/v1/scenarios",
        {
            "campaign": campaign_id,
            "subject": subject,
            "content": "Hello {{ first_name }}, this is seed 000.",
            "send_date": str(due.date()),
            "send_time": due.strftime("%H:%M"),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"], due


def _run_at(scenario_id: int, due: dt.datetime, workers: Any, timeout: float = 60) -> Scenario:
    """The tick a second before the due time hands nothing over; the tick at the due time does."""
    assert scheduler_services.tick(now=due - dt.timedelta(seconds=1)).dispatched == 0
    assert scheduler_services.tick(now=due).dispatched == 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scenario = Scenario.objects.get(pk=scenario_id)
        if scenario.status in (Scenario.Status.SENT, Scenario.Status.FAILED):
            return scenario
        time.sleep(0.2)
    raise AssertionError(f"scenario {scenario_id} still {scenario.status} after {timeout}s\n{workers.logs()}")


def test_seed_000_end_to_end(celery_worker: Any, fake_resend: Any, api: APIClient, manager: Any) -> None:
    today = timezone.localdate()
    campaign = api.post(
        "/api/v1/campaigns",
        {
            "name": "Seed 000",
            "start_date": str(today - dt.timedelta(days=1)),
            "end_date": str(today + dt.timedelta(days=5)),
            "timezone": "UTC",
        },
        format="json",
    ).json()
    upload = api.post(f"/api/v1/campaigns/{campaign['id']}/contacts", {"file": _csv(N)}, format="multipart")
    assert upload.status_code == 201, upload.content
    assert upload.json()["created"] == N
    emails = [f"person{i}@example.com" for i in range(N)]
    celery_worker.start(concurrency=2)

    # First scenario: every contact of the batch, exactly once, each with the unsubscribe link and headers.
    first_id, due = _create_scenario(api, campaign["id"], "First news")
    scenario = _run_at(first_id, due, celery_worker)
    assert scenario.status == Scenario.Status.SENT, celery_worker.logs()
    assert fake_resend.report(emails) == {"received": N, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert fake_resend.stats()["missing_unsubscribe"] == []
    emailer = Emailer.objects.get(scenario_id=first_id)
    assert (emailer.active, emailer.sent) == (False, True)
    assert scenario.contacts_served == N
    detail = api.get(f"/api/v1/scenarios/{first_id}").json()
    assert (detail["recipient_count"], detail["progress"]["sent"]) == (N, N)
    assert Notification.objects.filter(user=manager, title__startswith="Completed").exists()

    # Unsubscribe one contact through the one-click link (RFC 8058 POST) it received.
    message = fake_resend.messages(to="person3@example.com")[0]
    assert message["subject"] == "First news"
    assert "Hello Person3" in message["text"]
    link = message["headers"]["List-Unsubscribe"].strip("<>")
    assert link in message["text"]
    response = Client().post(urlsplit(link).path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Contact.objects.get(email="person3@example.com").status == Contact.Status.UNSUBSCRIBED

    # The next scenario goes to N - 1.
    fake_resend.reset()
    second_id, due = _create_scenario(api, campaign["id"], "Second news")
    scenario = _run_at(second_id, due, celery_worker)
    remaining = [e for e in emails if e != "person3@example.com"]
    assert fake_resend.report(remaining) == {"received": N - 1, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert fake_resend.messages(to="person3@example.com") == []
    assert scenario.contacts_served == N - 1


def _wait(condition: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(message)


def test_pause_resume_and_cancel_through_the_api_while_sending(
    celery_worker: Any, fake_resend: Any, api: APIClient
) -> None:
    """Seeds 002/004: once sending, a scenario is paused, resumed and stopped, never edited; nothing twice."""
    n = 2000  # 20 pages: enough left after resume that the cancel lands mid-send even on a loaded machine
    today = timezone.localdate()
    campaign = api.post(
        "/api/v1/campaigns",
        {"name": "Lifecycle", "start_date": str(today), "end_date": str(today + dt.timedelta(days=2))},
        format="json",
    ).json()
    upload = api.post(f"/api/v1/campaigns/{campaign['id']}/contacts", {"file": _csv(n)}, format="multipart")
    assert upload.status_code == 201, upload.content
    emails = [f"person{i}@example.com" for i in range(n)]
    fake_resend.configure(latency_ms=600)  # pages slow enough to act while the send is under way
    celery_worker.start(concurrency=2)

    def received() -> int:
        return sum(fake_resend.ledger().values())

    scenario = api.post(
        "/api/v1/scenarios",
        {
            "campaign": campaign["id"],
            "subject": "Lifecycle",
            "content": "Hi",
            "send_date": str(today),
            "send_time": "00:00",
            "draft": True,
        },
        format="json",
    ).json()
    url = f"/api/v1/scenarios/{scenario['id']}"
    assert api.post(f"{url}/send", {"at": None}, format="json").json()["status"] == "sending"
    _wait(lambda: received() >= 100, 30, f"nothing sent\n{celery_worker.logs()}")

    paused = api.post(f"{url}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert api.patch(url, {"subject": "Edited"}, format="json").status_code == 409
    time.sleep(1.5)  # pages already at the server finish; no new page starts
    at_pause = received()
    time.sleep(2.0)
    assert received() == at_pause < n

    assert api.post(f"{url}/resume").json()["status"] == "sending"
    _wait(lambda: received() > at_pause, 30, "resume sent nothing")
    cancelled = api.post(f"{url}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    time.sleep(1.5)
    at_cancel = received()
    time.sleep(2.0)
    assert received() == at_cancel < n
    report = fake_resend.report(emails)
    assert report["duplicates"] == 0 and report["unexpected"] == 0
    assert Scenario.objects.get(pk=scenario["id"]).status == Scenario.Status.CANCELLED
    assert Emailer.objects.get(scenario_id=scenario["id"]).active is False
