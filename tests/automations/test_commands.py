"""refresh_automations, run_automation and seed_demo_automations."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from automations.models import Automation, AutomationRun
from tests.automations.conftest import NOW

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_refresh_rebuilds_a_lost_task_removes_orphans_and_a_second_run_changes_nothing(automation) -> None:
    PeriodicTask.objects.filter(name=automation.periodic_task_name).delete()
    orphan = PeriodicTask.objects.create(
        name="automation-999999", task="automations.tasks.automation_fire_task", crontab=automation_crontab()
    )

    first = _call("refresh_automations")
    second = _call("refresh_automations")

    assert f"created: {automation.periodic_task_name}" in first and f"removed: {orphan.name}" in first
    assert "1 created, 0 updated, 1 removed" in first
    assert "0 created, 0 updated, 0 removed (already in step)" in second
    assert PeriodicTask.objects.get(name=automation.periodic_task_name).enabled


def automation_crontab():  # type: ignore[no-untyped-def]
    from django_celery_beat.models import CrontabSchedule

    return CrontabSchedule.objects.create(minute="0", hour="1")


def test_refresh_puts_back_a_task_edited_by_hand(automation) -> None:
    task = PeriodicTask.objects.get(name=automation.periodic_task_name)
    task.enabled = False
    task.save()

    output = _call("refresh_automations")

    assert f"updated: {automation.periodic_task_name}" in output
    assert PeriodicTask.objects.get(name=automation.periodic_task_name).enabled


def test_refresh_dry_run_changes_nothing(automation) -> None:
    PeriodicTask.objects.filter(name=automation.periodic_task_name).delete()

    output = _call("refresh_automations", "--dry-run")

    assert "1 would be created" in output
    assert not PeriodicTask.objects.filter(name=automation.periodic_task_name).exists()


def test_run_automation_with_the_same_at_twice_runs_once(automation, frozen) -> None:
    first = _call("run_automation", str(automation.pk), "--at", NOW.isoformat())
    second = _call("run_automation", str(automation.pk), "--at", NOW.isoformat())

    assert "running; audience 3" in first
    assert second.startswith("Already ran for")
    assert AutomationRun.objects.count() == 1


def test_run_automation_of_an_unknown_id_is_an_error(db) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        _call("run_automation", "424242")


def test_seed_demo_automations_makes_one_automation_every_five_minutes(admin_user) -> None:
    admin_user.username = "admin"
    admin_user.save()
    from contacts.models import Contact

    Contact.objects.create(email="ada.demo1@example.com", first_name="Ada")

    _call("seed_demo_automations")
    _call("seed_demo_automations")

    automation = Automation.objects.get()
    assert (automation.cron, automation.is_active) == ("*/5 * * * *", True)
    assert PeriodicTask.objects.get(name=automation.periodic_task_name).enabled
