"""Issue 14 §2: a fresh deploy that runs only `migrate` and starts the processes sends a due scenario.

No `sync_schedule`, no `seed_demo`: beat writes its own schedule when it starts (config/celery.py, beat_init), its
tick claims the due Emailer and a worker sends it. About a minute of wall time (the scenario is due at the next
whole minute, as a user would set it).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from campaigns.models import Scenario
from scheduler import services as scheduler_services
from tests.e2e.conftest import Beat

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

N = 5


def test_a_fresh_deploy_with_only_migrate_sends_a_due_scenario(
    celery_worker: Any, beat: Beat, fake_resend: Any, api: APIClient
) -> None:
    assert not PeriodicTask.objects.filter(name__startswith="herald:").exists()
    today = timezone.localdate()
    campaign = api.post(
        "/api/v1/campaigns",
        {
            "name": "Fresh",
            "start_date": str(today - dt.timedelta(days=1)),
            "end_date": str(today + dt.timedelta(days=2)),
            "timezone": "UTC",
        },
        format="json",
    ).json()
    rows = "name,email\n" + "".join(f"Fresh{i} Deploy,fresh{i}@example.com\n" for i in range(N))
    upload = SimpleUploadedFile("people.csv", rows.encode(), content_type="text/csv")
    assert (
        api.post(f"/api/v1/campaigns/{campaign['id']}/contacts", {"file": upload}, format="multipart").status_code
        == 201
    )
    due = (timezone.now() + dt.timedelta(seconds=75)).replace(second=0, microsecond=0)
    created = api.post(
        "/api/v1/scenarios",
        {
            "campaign": campaign["id"],
            "subject": "Fresh deploy",
            "content": "Hello {{ first_name }}",
            "send_date": str(due.date()),
            "send_time": due.strftime("%H:%M"),
        },
        format="json",
    )
    assert created.status_code == 201, created.content

    celery_worker.start(concurrency=2)
    beat.start()

    deadline = time.monotonic() + 150
    scenario = Scenario.objects.get(pk=created.json()["id"])
    while time.monotonic() < deadline and scenario.status != Scenario.Status.SENT:
        time.sleep(0.5)
        scenario.refresh_from_db()
    assert scenario.status == Scenario.Status.SENT, f"{scenario.status}\nbeat:\n{beat.text()}\n{celery_worker.logs()}"
    names = set(PeriodicTask.objects.filter(name__startswith="herald:").values_list("name", flat=True))
    daily = {name for name, _task, _at in settings.SCHEDULER_DAILY_TASKS}  # the retention purge
    assert names == {scheduler_services.PLAN_TASK_NAME, scheduler_services.TICK_TASK_NAME, *daily}
    emails = [f"fresh{i}@example.com" for i in range(N)]
    assert fake_resend.report(emails) == {"received": N, "duplicates": 0, "missing": 0, "unexpected": 0}
