"""Issue 18 §2: retention deletes tracking rows, outbox copies and provider events older than N days."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from delivery.models import OutboxMessage, WebhookEvent
from privacy import services
from privacy.tasks import retention_purge_task


def _rows(days_ago: int) -> None:
    with time_machine.travel(timezone.now() - dt.timedelta(days=days_ago)):
        OutboxMessage.objects.create(to=f"x{days_ago}@ret.example", from_email="h@x", subject="s")
        WebhookEvent.objects.create(event_id=f"e{days_ago}", event_type="email.opened", payload={})


@pytest.mark.django_db
def test_purge_deletes_only_rows_older_than_the_period(settings: Any) -> None:
    settings.HERALD_RETENTION_DAYS = 30
    _rows(40)
    _rows(5)

    counts = services.retention_purge()

    assert counts["outbox_messages"] == 1 and counts["webhook_events"] == 1
    assert list(OutboxMessage.objects.values_list("to", flat=True)) == ["x5@ret.example"]


@pytest.mark.django_db
def test_purge_deletes_no_tracking_row_or_outbox_copy_when_retention_is_unset(settings: Any) -> None:
    settings.HERALD_RETENTION_DAYS = None
    _rows(400)

    assert services.retention_purge() == {"import_uploads": 0}
    assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db
def test_dry_run_counts_and_deletes_nothing(settings: Any) -> None:
    _rows(40)
    out = io.StringIO()

    call_command("purge_retention", "--days", "30", "--dry-run", stdout=out)

    assert "would delete 1" in out.getvalue()
    assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db
def test_task_run_twice_deletes_once(settings: Any) -> None:
    settings.HERALD_RETENTION_DAYS = 30
    _rows(40)

    first = retention_purge_task()
    second = retention_purge_task()

    assert first["outbox_messages"] == 1 and second["outbox_messages"] == 0


@pytest.mark.django_db
def test_schedule_sync_writes_the_daily_retention_entry(settings: Any) -> None:
    from scheduler.services import schedule_sync

    settings.SCHEDULER_DAILY_TASKS = [("herald: retention purge", "privacy.tasks.retention_purge_task", "03:30")]

    schedule_sync()

    entry = PeriodicTask.objects.get(name="herald: retention purge")
    assert entry.task == "privacy.tasks.retention_purge_task"
    assert (entry.crontab.hour, entry.crontab.minute) == ("3", "30")


@pytest.mark.django_db
def test_the_command_purges_import_uploads_when_retention_is_unset(settings: Any, tmp_path: Any) -> None:
    from contacts import services as contact_services
    from contacts.models import ImportJob

    settings.HERALD_RETENTION_DAYS = None
    settings.MEDIA_ROOT = str(tmp_path)
    job = contact_services.import_job_create(
        file=io.BytesIO(b"email\na@x.example\n"), original_name="a.csv", start=False
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, finished_at=job.created_at)
    out = io.StringIO()

    call_command("purge_retention", stdout=out)

    assert "import_uploads: deleted 1" in out.getvalue()
    assert not ImportJob.objects.get(pk=job.pk).file
