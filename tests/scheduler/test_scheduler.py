from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
import time_machine
from django_celery_beat.models import PeriodicTask

from campaigns import engine as send_engine_seam
from campaigns import services as campaign_services
from campaigns.models import Campaign, Emailer, Scenario
from delivery import services as delivery_services
from scheduler import services
from scheduler.models import PlanRun
from tests.factories import ScenarioFactory
from tests.scheduler.fake_engine import FakeEngine

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 23)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.TIME_ZONE = "UTC"
    settings.SCHEDULER_DAILY_AT = "06:00"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    monkeypatch.setattr(send_engine_seam, "send_engine", lambda: fake)
    monkeypatch.setattr(delivery_services, "watchdog", fake_watchdog(fake))
    return fake


def fake_watchdog(fake: FakeEngine) -> Any:
    def watchdog(*, now: dt.datetime | None = None) -> int:
        fake.calls.append(("watchdog", {}))
        return 0

    return watchdog


def scenario_on(day: dt.date, time: dt.time = dt.time(9, 0), **kwargs: Any) -> Scenario:
    # Written directly (no service), as if created before the plan ran: the plan is what gives it an Emailer.
    values: dict[str, Any] = {
        "campaign__start_date": DAY - dt.timedelta(days=5),
        "campaign__end_date": DAY + dt.timedelta(days=5),
        **kwargs,
    }
    return cast(Scenario, ScenarioFactory(send_date=day, send_time=time, **values))


def test_plan_day_writes_one_active_emailer_per_scenario_of_the_day() -> None:
    today = scenario_on(DAY)
    scenario_on(DAY + dt.timedelta(days=2))
    with time_machine.travel(at(6), tick=False):
        run = services.plan_day(day=DAY)
    emailer = Emailer.objects.get()
    assert (emailer.scenario_id, emailer.batch_id, emailer.campaign_id) == (
        today.pk,
        today.campaign.batch_id,
        today.campaign_id,
    )
    assert (emailer.active, emailer.sent, emailer.scheduled_at) == (True, False, at(9))
    assert (run.day, run.planned) == (DAY, 1)


def test_plan_day_is_idempotent() -> None:
    scenario_on(DAY)
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
        services.plan_day(day=DAY)
    assert Emailer.objects.count() == 1
    assert PlanRun.objects.filter(day=DAY).count() == 1


def test_plan_day_skips_inactive_campaigns_and_unscheduled_scenarios() -> None:
    scenario_on(DAY, campaign__status=Campaign.Status.PAUSED)
    scenario_on(DAY, status=Scenario.Status.DRAFT)
    scenario_on(DAY, status=Scenario.Status.CANCELLED)
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    assert Emailer.objects.count() == 0


def test_plan_day_skips_scenarios_outside_the_campaign_timeline() -> None:
    scenario_on(DAY, campaign__end_date=DAY - dt.timedelta(days=1), campaign__start_date=DAY - dt.timedelta(days=3))
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    assert Emailer.objects.count() == 0


def test_scenario_created_after_todays_plan_is_planned_at_once() -> None:
    with time_machine.travel(at(7), tick=False):
        services.plan_day(day=DAY)
        campaign = campaign_services.campaign_create(name="Late", start_date=DAY, end_date=DAY, timezone="UTC")
        scenario = campaign_services.scenario_create(
            campaign=campaign, subject="Late", content="x", send_date=DAY, send_time=dt.time(12, 0)
        )
    assert Emailer.objects.get(scenario=scenario).scheduled_at == at(12)


def test_missed_plan_is_caught_up_by_the_tick(engine: FakeEngine) -> None:
    scenario_on(DAY, dt.time(8, 0))
    with time_machine.travel(at(7, 30), tick=False):
        result = services.tick()
    assert result.caught_up is True
    assert PlanRun.objects.get(day=DAY).trigger == PlanRun.Trigger.CATCH_UP
    assert Emailer.objects.count() == 1


def test_tick_before_the_plan_time_does_not_plan(engine: FakeEngine) -> None:
    scenario_on(DAY, dt.time(8, 0))
    with time_machine.travel(at(5, 59), tick=False):
        assert services.tick().caught_up is False
    assert not PlanRun.objects.exists()


def test_tick_does_not_plan_twice(engine: FakeEngine) -> None:
    with time_machine.travel(at(7), tick=False):
        services.plan_day(day=DAY, trigger=PlanRun.Trigger.BEAT)
        assert services.tick().caught_up is False


def test_dispatch_due_claims_only_due_emailers(django_capture_on_commit_callbacks: Any) -> None:
    due = scenario_on(DAY, dt.time(9, 0))
    scenario_on(DAY, dt.time(11, 0))
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    with time_machine.travel(at(9), tick=False), django_capture_on_commit_callbacks() as callbacks:
        claimed = campaign_services.emailers_claim_due()
    assert claimed == [due.emailer.pk]
    assert len(callbacks) == 1


def test_dispatch_due_claims_once(django_capture_on_commit_callbacks: Any) -> None:
    scenario_on(DAY, dt.time(9, 0))
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    with time_machine.travel(at(9, 1), tick=False), django_capture_on_commit_callbacks() as callbacks:
        first = campaign_services.emailers_claim_due()
        second = campaign_services.emailers_claim_due()
    assert (len(first), second, len(callbacks)) == (1, [], 1)
    assert Emailer.objects.get().dispatched_at == at(9, 1)


def test_dispatched_emailer_is_not_replanned() -> None:
    scenario_on(DAY, dt.time(9, 0))
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    with time_machine.travel(at(9), tick=False):
        campaign_services.emailers_claim_due()
        services.plan_day(day=DAY)
    assert Emailer.objects.get().dispatched_at == at(9)


def test_tick_runs_the_engine_watchdog(engine: FakeEngine) -> None:
    with time_machine.travel(at(5), tick=False):
        services.tick()
    assert engine.names() == ["watchdog"]


def test_schedule_sync_creates_the_daily_plan_and_the_tick(settings: Any) -> None:
    settings.SCHEDULER_DAILY_AT = "06:30"
    settings.SCHEDULER_TICK_SECONDS = 1
    services.schedule_sync()
    services.schedule_sync()
    plan = PeriodicTask.objects.get(name=services.PLAN_TASK_NAME)
    tick = PeriodicTask.objects.get(name=services.TICK_TASK_NAME)
    assert plan.task == "scheduler.tasks.plan_today_task"
    assert plan.crontab is not None
    assert (plan.crontab.hour, plan.crontab.minute) == ("6", "30")
    assert tick.interval is not None
    assert (tick.interval.every, tick.interval.period) == (1, "seconds")
    # Plus one entry per daily task of the apps above (the retention purge), each written once.
    assert PeriodicTask.objects.filter(name__startswith="herald:").count() == 2 + len(settings.SCHEDULER_DAILY_TASKS)


def test_plan_day_completes_campaigns_whose_timeline_ended() -> None:
    ended = scenario_on(DAY - dt.timedelta(days=3), campaign__end_date=DAY - dt.timedelta(days=1))
    Scenario.objects.filter(pk=ended.pk).update(status=Scenario.Status.SENT)
    waiting = scenario_on(DAY - dt.timedelta(days=2), campaign__end_date=DAY - dt.timedelta(days=1))
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    assert Campaign.objects.get(pk=ended.campaign_id).status == Campaign.Status.COMPLETED
    # Still holding a scheduled scenario (its run was missed): stays active until it is sent or cancelled.
    assert Campaign.objects.get(pk=waiting.campaign_id).status == Campaign.Status.ACTIVE


def test_plan_today_task_twice_plans_once() -> None:
    from scheduler.tasks import plan_today_task

    scenario_on(DAY)
    with time_machine.travel(at(6), tick=False):
        assert plan_today_task.run() == 1
        plan_today_task.run()
    assert Emailer.objects.count() == 1
    assert PlanRun.objects.get().trigger == PlanRun.Trigger.BEAT


def test_emailer_run_task_twice_starts_one_send(engine: FakeEngine) -> None:
    from campaigns.tasks import emailer_run_task

    scenario_on(DAY)
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    emailer = Emailer.objects.get()
    emailer_run_task.run(emailer.pk)
    emailer_run_task.run(emailer.pk)
    assert engine.names().count("send_start") == 1


@pytest.mark.django_db(transaction=True)
def test_racing_ticks_claim_each_due_emailer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dispatchers at once on separate connections (two beat ticks, or a tick and the command)."""
    import threading

    from django.db import connection

    from campaigns.tasks import emailer_run_task

    enqueued: list[int] = []
    monkeypatch.setattr(emailer_run_task, "delay_on_commit", enqueued.append)
    for hour in (7, 8, 9):
        scenario_on(DAY, dt.time(hour, 0))
    services.plan_day(day=DAY, now=at(6))
    barrier = threading.Barrier(4)
    claimed: list[int] = []

    def dispatcher() -> None:
        try:
            barrier.wait()
            claimed.extend(campaign_services.emailers_claim_due(now=at(10)))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(Emailer.objects.values_list("pk", flat=True))
    assert sorted(enqueued) == sorted(claimed)


def test_claimed_emailer_whose_run_never_started_is_dispatched_again(
    engine: FakeEngine, django_capture_on_commit_callbacks: Any
) -> None:
    scenario_on(DAY, dt.time(9, 0))
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    with time_machine.travel(at(9), tick=False):
        campaign_services.emailers_claim_due()  # the worker that got it died before emailer_run committed
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.tick(now=at(9, 1)).redispatched == 0  # too early to call it lost
        assert services.tick(now=at(9, 5)).redispatched == 1
        assert services.tick(now=at(9, 5)).redispatched == 0
    assert len(callbacks) == 1
    assert Emailer.objects.get().dispatched_at == at(9, 5)


def test_send_whose_finished_event_was_never_published_is_closed_by_the_tick(engine: FakeEngine) -> None:
    from delivery.models import Send, SendNotice

    scenario = scenario_on(DAY, dt.time(9, 0))
    with time_machine.travel(at(6), tick=False):
        services.plan_day(day=DAY)
    campaign_services.emailer_run(emailer_id=Emailer.objects.get().pk)
    # The engine committed the end with its notice, and its process died before publishing it.
    Send.objects.update(status=Send.Status.DONE, sent=0)
    SendNotice.objects.create(send_id=Send.objects.get().pk, event="finished")
    SendNotice.objects.update(created_at=at(9, 0))
    with time_machine.travel(at(9, 1), tick=False):
        assert services.tick().notices_redeliver == 1
        assert services.tick().notices_redeliver == 0
    emailer = Emailer.objects.get()
    assert (emailer.active, emailer.sent) == (False, True)
    assert Scenario.objects.get(pk=scenario.pk).status == Scenario.Status.SENT
