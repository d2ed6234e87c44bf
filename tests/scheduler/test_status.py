"""No step an operator can forget (issue 14 §2): beat writes its own schedule, and the status page says what is late."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
import time_machine
from celery.signals import beat_init
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask

from delivery.models import Send
from scheduler import selectors, services
from scheduler.models import PlanRun

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    settings.SCHEDULER_DAILY_AT = "06:00"


def _line(name: str, **kwargs: Any) -> selectors.StatusLine:
    return next(line for line in selectors.status(now=NOW, ping=False, **kwargs) if line.name == name)


def test_beat_writes_its_own_schedule_when_it_starts() -> None:
    import config.celery  # noqa: F401 - connects the beat_init handler

    assert not PeriodicTask.objects.filter(name__startswith="herald:").exists()
    beat_init.send(sender=None)
    assert set(PeriodicTask.objects.filter(name__startswith="herald:").values_list("name", flat=True)) == {
        services.PLAN_TASK_NAME,
        services.TICK_TASK_NAME,
        # and the daily jobs of the apps above (the retention purge)
        *(name for name, _task, _at in settings.SCHEDULER_DAILY_TASKS),
    }


def test_a_missing_schedule_is_a_red_line() -> None:
    assert not _line("Beat schedule").ok
    services.schedule_sync()
    assert _line("Beat schedule").ok


def test_the_daily_plan_is_late_once_its_time_passed_without_a_run() -> None:
    assert not _line("Daily plan").ok
    PlanRun.objects.create(day=NOW.date(), planned=2, finished_at=NOW)
    assert _line("Daily plan").ok


def test_before_the_plan_time_a_plan_not_yet_run_is_not_late() -> None:
    early = NOW.replace(hour=5)
    assert next(line for line in selectors.status(now=early, ping=False) if line.name == "Daily plan").ok


def test_the_tick_records_a_heartbeat_and_a_silent_tick_is_late() -> None:
    assert not _line("Dispatch tick").ok
    with time_machine.travel(NOW - dt.timedelta(seconds=3), tick=False):
        services.tick()
    line = _line("Dispatch tick")
    assert line.ok and "3 s ago" in line.value
    late = NOW + dt.timedelta(minutes=5)
    assert not next(line for line in selectors.status(now=late, ping=False) if line.name == "Dispatch tick").ok


def test_a_send_without_progress_is_listed_as_stalled() -> None:
    send = Send.objects.create(status=Send.Status.SENDING, last_progress_at=NOW - dt.timedelta(minutes=10))
    line = _line("Stalled sends")
    assert not line.ok and f"#{send.pk}" in line.value


def test_the_status_command_exits_1_when_something_is_late() -> None:
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("status", "--no-ping", stdout=out)
    assert exit_info.value.code == 1
    assert "LATE" in out.getvalue() and "Beat schedule" in out.getvalue()


def test_the_status_page_is_for_admins_only(client: Client, admin_user: User, viewer: User) -> None:
    client.force_login(viewer)
    assert client.get("/status/").status_code == 403
    client.force_login(admin_user)
    page = client.get("/status/")
    assert page.status_code == 200
    assert "Dispatch tick" in page.content.decode() and "Queue depth" in page.content.decode()
