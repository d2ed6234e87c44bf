"""Firings missed while beat was down: every one recorded as skipped ("missed"), the latest caught up once if it
is less than AUTOMATION_CATCHUP_MINUTES late; the tick's hook hands the sweep over only after a silence; skipped
runs are in the bell."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from accounts.models import Notification
from automations import services, tasks
from automations.models import AutomationRun
from delivery.models import Send
from tests.automations.conftest import NOW, make_automation

pytestmark = pytest.mark.django_db

R = AutomationRun.Status


@pytest.fixture(autouse=True)
def _fresh_markers() -> Iterator[None]:
    cache.delete_many([services._SEEN_KEY, services._SWEEP_LOCK])
    yield
    cache.delete_many([services._SEEN_KEY, services._SWEEP_LOCK])


@pytest.fixture
def fired(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The catch-up firings run here, as the worker would run them (the broker is not the point)."""
    calls: list[tuple[Any, ...]] = []

    def run(*args: Any) -> None:
        calls.append(args)
        tasks.automation_fire_task(*args)

    monkeypatch.setattr(tasks.automation_fire_task, "delay", run)
    return calls


def _sweep(now: dt.datetime, capture: Any) -> services.CatchUpReport:
    with capture(execute=True):
        return services.automations_sweep_missed(now=now)


def _runs(automation: Any) -> list[tuple[dt.datetime, str, str]]:
    return list(automation.runs.order_by("due_at").values_list("due_at", "status", "reason"))


def test_every_missed_firing_is_recorded_and_the_latest_is_caught_up(
    segment, template, frozen, fired, django_capture_on_commit_callbacks
) -> None:
    frozen.move_to(NOW - dt.timedelta(hours=2))
    automation = make_automation(segment, template, cron="*/10 * * * *")
    frozen.move_to(NOW + dt.timedelta(minutes=5))  # beat was down from 07:30 to 09:35

    report = _sweep(NOW + dt.timedelta(minutes=5), django_capture_on_commit_callbacks)

    runs = _runs(automation)
    assert (report.missed, report.caught_up) == (11, 1)
    assert [due for due, _, _ in runs] == [NOW - dt.timedelta(minutes=10 * i) for i in range(11, -1, -1)]
    assert all((status, reason) == (R.SKIPPED, services.SKIP_MISSED) for _, status, reason in runs[:-1])
    assert runs[-1][1] == R.RUNNING  # 09:30, five minutes late: caught up, once
    assert fired == [(automation.pk, NOW.isoformat())]
    assert Send.objects.count() == 1


def test_a_second_sweep_finds_nothing_to_do(
    segment, template, frozen, fired, django_capture_on_commit_callbacks
) -> None:
    frozen.move_to(NOW - dt.timedelta(hours=1))
    automation = make_automation(segment, template, cron="*/15 * * * *")
    frozen.move_to(NOW + dt.timedelta(minutes=1))
    _sweep(NOW + dt.timedelta(minutes=1), django_capture_on_commit_callbacks)
    before = _runs(automation)

    again = _sweep(NOW + dt.timedelta(minutes=1, seconds=30), django_capture_on_commit_callbacks)

    assert (again.missed, again.caught_up) == (0, 0)
    assert _runs(automation) == before
    assert len(fired) == 1


def test_a_latest_firing_beyond_the_catch_up_window_is_recorded_missed_too(
    segment, template, frozen, fired, settings, django_capture_on_commit_callbacks
) -> None:
    settings.AUTOMATION_CATCHUP_MINUTES = 10
    frozen.move_to(NOW - dt.timedelta(hours=5))
    automation = make_automation(segment, template, cron="0 * * * *")
    frozen.move_to(NOW)  # 09:30: the 09:00 firing is 30 minutes late

    report = _sweep(NOW, django_capture_on_commit_callbacks)

    assert (report.missed, report.caught_up) == (5, 0)
    assert {status for _, status, _ in _runs(automation)} == {R.SKIPPED}
    assert fired == [] and Send.objects.count() == 0


def test_a_long_outage_records_only_the_latest_firings(
    segment, template, frozen, fired, django_capture_on_commit_callbacks
) -> None:
    frozen.move_to(NOW - dt.timedelta(days=1))
    automation = make_automation(segment, template, cron="* * * * *")
    frozen.move_to(NOW)

    report = _sweep(NOW, django_capture_on_commit_callbacks)

    assert report.missed + report.caught_up == services.CATCH_UP_MAX_FIRINGS
    assert automation.runs.count() == services.CATCH_UP_MAX_FIRINGS
    assert automation.runs.order_by("due_at").first().due_at == NOW - dt.timedelta(  # type: ignore[union-attr]
        minutes=services.CATCH_UP_MAX_FIRINGS - 1
    )


def test_firings_while_paused_are_not_missed_ones(
    segment, template, frozen, fired, django_capture_on_commit_callbacks
) -> None:
    frozen.move_to(NOW - dt.timedelta(hours=3))
    automation = make_automation(segment, template, cron="*/10 * * * *")
    services.automation_pause(automation_id=automation.pk)
    frozen.move_to(NOW - dt.timedelta(minutes=5))
    services.automation_resume(automation_id=automation.pk)
    frozen.move_to(NOW + dt.timedelta(seconds=30))

    report = _sweep(NOW + dt.timedelta(seconds=30), django_capture_on_commit_callbacks)

    assert (report.missed, report.caught_up) == (0, 1)
    assert [due for due, _, _ in _runs(automation)] == [NOW]


def test_a_paused_automation_is_not_swept(automation, frozen, fired, django_capture_on_commit_callbacks) -> None:
    services.automation_pause(automation_id=automation.pk)
    frozen.move_to(NOW + dt.timedelta(days=2))

    report = _sweep(NOW + dt.timedelta(days=2), django_capture_on_commit_callbacks)

    assert (report.missed, report.caught_up) == (0, 0)
    assert not automation.runs.exists()


def test_missed_firings_are_in_the_creators_bell(
    segment, template, manager, frozen, fired, django_capture_on_commit_callbacks
) -> None:
    frozen.move_to(NOW - dt.timedelta(hours=3))
    make_automation(segment, template, manager, cron="0 * * * *")
    frozen.move_to(NOW)

    _sweep(NOW, django_capture_on_commit_callbacks)

    note = Notification.objects.get(user=manager, title__startswith="Runs missed")
    assert note.level == Notification.Level.WARNING
    assert "2 firings" in note.body and "missed" in note.body


def test_the_tick_hook_hands_over_a_sweep_only_after_a_silence(automation, frozen, monkeypatch) -> None:
    queued: list[str] = []
    monkeypatch.setattr(tasks.automations_sweep_task, "delay_on_commit", lambda now: queued.append(now))

    first = services.automations_catch_up(now=NOW)  # nothing known about earlier ticks: sweep
    steady = [services.automations_catch_up(now=NOW + dt.timedelta(seconds=s)) for s in (1, 2, 3)]
    after_outage = services.automations_catch_up(now=NOW + dt.timedelta(minutes=5))

    assert (first, steady, after_outage) == (True, [False, False, False], True)
    assert queued == [NOW.isoformat(), (NOW + dt.timedelta(minutes=5)).isoformat()]


def test_the_tick_hook_hands_over_nothing_without_active_automations(db, monkeypatch) -> None:
    queued: list[str] = []
    monkeypatch.setattr(tasks.automations_sweep_task, "delay_on_commit", lambda now: queued.append(now))

    assert services.automations_catch_up(now=NOW) is False
    assert queued == []


def test_the_scheduler_tick_runs_the_hook(automation, frozen, monkeypatch) -> None:
    from scheduler import services as scheduler_services

    queued: list[str] = []
    monkeypatch.setattr(tasks.automations_sweep_task, "delay_on_commit", lambda now: queued.append(now))

    scheduler_services.tick(now=NOW)

    assert queued == [NOW.isoformat()]


def test_the_sweep_task_called_twice_records_each_missed_firing_once(
    segment, template, frozen, fired, django_capture_on_commit_callbacks
) -> None:
    frozen.move_to(NOW - dt.timedelta(hours=2))
    automation = make_automation(segment, template, cron="0 * * * *")
    frozen.move_to(NOW)

    with django_capture_on_commit_callbacks(execute=True):
        tasks.automations_sweep_task(NOW.isoformat())
    with django_capture_on_commit_callbacks(execute=True):
        tasks.automations_sweep_task(NOW.isoformat())

    assert automation.runs.filter(status=R.SKIPPED, reason=services.SKIP_MISSED).count() == 1  # 08:00
    assert automation.runs.filter(due_at=NOW - dt.timedelta(minutes=30)).count() == 1  # 09:00, caught up


def test_a_skipped_run_is_in_the_creators_bell(automation, frozen, django_capture_on_commit_callbacks) -> None:
    services.automation_run(automation_id=automation.pk, due_at=NOW - dt.timedelta(minutes=5))

    with django_capture_on_commit_callbacks(execute=True):
        services.automation_run(automation_id=automation.pk, due_at=NOW)

    note = Notification.objects.get(user=automation.created_by, title__startswith="Run skipped")
    assert note.level == Notification.Level.WARNING
    assert services.SKIP_PREVIOUS in note.body
