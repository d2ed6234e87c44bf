from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from accounts import roles
from campaigns import services
from campaigns.models import Campaign, Emailer, Scenario
from contacts.models import BatchMember, Contact
from scheduler import services as scheduler_services
from scheduler.models import PlanRun
from tests.campaigns.clock import NOW, TODAY
from tests.scheduler.fake_engine import FakeEngine

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def run(*args: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _campaign() -> Campaign:
    return services.campaign_create(name="Cmd", start_date=TODAY, end_date=TODAY + dt.timedelta(days=5), timezone="UTC")


def _scenario(campaign: Campaign, **kwargs: Any) -> Scenario:
    values = {"subject": "Hi", "content": "Body", "send_date": TODAY, "send_time": dt.time(12, 0), **kwargs}
    return services.scenario_create(campaign=campaign, **values)


def test_plan_day_command_plans_the_given_date() -> None:
    scenario = _scenario(_campaign(), send_date=TODAY + dt.timedelta(days=2))
    out = run("plan_day", "--date", str(TODAY + dt.timedelta(days=2)))
    assert "1 emailer(s) planned" in out
    assert Emailer.objects.filter(scenario=scenario, active=True).exists()
    assert PlanRun.objects.get().trigger == PlanRun.Trigger.MANUAL


def test_plan_day_command_rejects_a_bad_date() -> None:
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("plan_day", "--date", "23/11/2026")


def test_dispatch_due_command_claims_due_emailers(django_capture_on_commit_callbacks: Any) -> None:
    _scenario(_campaign(), send_time=dt.time(10, 0))
    with django_capture_on_commit_callbacks() as callbacks:
        out = run("dispatch_due")
    assert "Dispatched 1 emailer(s)" in out
    assert len(callbacks) == 1


def test_send_scenario_command_sends_now(engine: FakeEngine) -> None:
    scenario = _scenario(_campaign(), draft=True)
    assert "handed to a worker" in run("send_scenario", str(scenario.pk))
    assert Scenario.objects.get(pk=scenario.pk).status == Scenario.Status.SENDING


def test_send_scenario_command_of_a_sent_scenario_fails_with_the_reason() -> None:
    scenario = _scenario(_campaign())
    Scenario.objects.filter(pk=scenario.pk).update(status=Scenario.Status.SENT)
    with pytest.raises(CommandError, match="only draft or scheduled"):
        run("send_scenario", str(scenario.pk))


def test_scenario_command_pauses_and_resumes(engine: FakeEngine) -> None:
    scenario = _scenario(_campaign())
    services.emailer_run(emailer_id=scenario.emailer.pk)
    assert "now paused" in run("scenario", "pause", str(scenario.pk))
    assert "now sending" in run("scenario", "resume", str(scenario.pk))
    assert engine.names()[-2:] == ["send_pause", "send_resume"]


def test_scenario_command_of_a_missing_scenario() -> None:
    with pytest.raises(CommandError, match="No scenario #999"):
        run("scenario", "cancel", "999")


def test_import_contacts_command_imports_into_the_campaign_batch(tmp_path: Path) -> None:
    campaign = _campaign()
    path = tmp_path / "people.csv"
    path.write_text("name,email\nAda Lovelace,ada@example.com\nAlan Turing,alan@example.com\n")
    out = run("import_contacts", str(path), "--campaign", str(campaign.pk))
    assert "2 created" in out
    assert set(BatchMember.objects.filter(batch=campaign.batch).values_list("contact__email", flat=True)) == {
        "ada@example.com",
        "alan@example.com",
    }
    assert Contact.objects.get(email="ada@example.com").first_name == "Ada"


def test_import_contacts_command_without_an_email_column_changes_nothing(tmp_path: Path) -> None:
    campaign = _campaign()
    path = tmp_path / "bad.csv"
    path.write_text("name,phone\nAda,123\n")
    with pytest.raises(CommandError, match="failed"):
        run("import_contacts", str(path), "--campaign", str(campaign.pk))
    assert not Contact.objects.exists()


def _herald_entries() -> set[str]:
    return set(PeriodicTask.objects.filter(name__startswith="herald:").values_list("name", flat=True))


def _expected_entries() -> set[str]:
    """The plan, the tick and each SCHEDULER_DAILY_TASKS entry (the retention purge)."""
    daily = {name for name, _task, _at in django_settings.SCHEDULER_DAILY_TASKS}
    return {scheduler_services.PLAN_TASK_NAME, scheduler_services.TICK_TASK_NAME} | daily


def test_sync_schedule_command_creates_the_plan_the_tick_and_the_daily_entries() -> None:
    assert "daily plan at 06:00" in run("sync_schedule")
    assert _herald_entries() == _expected_entries()


def test_seed_demo_is_idempotent_and_keeps_the_password(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.BASE_DIR = tmp_path
    first = run("seed_demo")
    second = run("seed_demo")
    password = (tmp_path / "var" / "admin_password.txt").read_text().strip()
    assert f"admin / {password}" in first and f"admin / {password}" in second
    admin = User.objects.get(username="admin")
    assert admin.check_password(password) and roles.is_admin(admin)
    campaign = Campaign.objects.get(name="Herald demo")
    assert campaign.batch.members.count() == 25
    assert campaign.start_date <= TODAY <= campaign.end_date


def test_seed_demo_schedules_one_scenario_about_a_minute_ahead(settings: Any, tmp_path: Path) -> None:
    settings.BASE_DIR = tmp_path
    run("seed_demo")
    run("seed_demo")
    scenario = Scenario.objects.get(subject="Welcome to Herald")
    emailer = Emailer.objects.get(scenario=scenario)
    assert emailer.active and emailer.scheduled_at == NOW + dt.timedelta(minutes=1)
    assert _herald_entries() == _expected_entries()


def test_seed_demo_after_the_demo_was_sent_does_not_send_it_again(settings: Any, tmp_path: Path) -> None:
    settings.BASE_DIR = tmp_path
    run("seed_demo")
    # What the first `make run` did with it: the scenario went out.
    Scenario.objects.filter(subject="Welcome to Herald").update(status=Scenario.Status.SENT)
    Emailer.objects.update(active=False, sent=True, dispatched_at=NOW)
    out = run("seed_demo")
    assert Scenario.objects.filter(subject="Welcome to Herald").count() == 1
    assert not Emailer.objects.filter(active=True).exists()
    assert "not sent again" in out


def test_plan_day_dry_run_lists_and_writes_nothing() -> None:
    campaign = _campaign()
    scenario = Scenario.objects.create(
        campaign=campaign, subject="Tomorrow", content="x", send_date=TODAY + dt.timedelta(days=1), send_time=dt.time(9)
    )
    out = run("plan_day", "--date", str(TODAY + dt.timedelta(days=1)), "--dry-run")
    assert f"#{scenario.pk} Tomorrow" in out and "1 emailer(s) would be planned" in out
    assert not Emailer.objects.exists() and not PlanRun.objects.exists()
