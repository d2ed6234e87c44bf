"""Firings: one run per (automation, due time), skips, catch-up, and one Send through the real engine."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Notification
from automations import services, tasks
from automations.models import AutomationRun
from delivery import services as delivery_services
from delivery.models import OutboxMessage, Send
from tests.automations.conftest import NOW

pytestmark = pytest.mark.django_db

R = AutomationRun.Status


def _send_all(send_id: int) -> None:
    """What the workers do with the page messages: send every page (outbox transport)."""
    send = Send.objects.get(pk=send_id)
    for page in range(send.pages):
        delivery_services.page_send(send_id=send_id, page=page)


def test_a_firing_hands_one_send_to_the_engine_and_ends_sent_with_counts(
    automation, frozen, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        result = services.automation_fire(automation_id=automation.pk)
    run = result.run
    assert run is not None and result.created
    assert (run.due_at, run.status, run.audience_size) == (NOW, R.RUNNING, 3)
    assert Send.objects.count() == 1

    assert run.send_id is not None
    with django_capture_on_commit_callbacks(execute=True):
        _send_all(run.send_id)

    run.refresh_from_db()
    assert (run.status, run.sent, run.failed) == (R.SENT, 3, 0)
    assert run.finished_at is not None
    assert OutboxMessage.objects.count() == 3


def test_the_beat_task_computes_the_latest_due_time_in_the_automations_zone(
    segment, template, frozen, django_capture_on_commit_callbacks
) -> None:
    from tests.automations.conftest import make_automation

    # 10:30 in Paris is 09:30 UTC in November.
    automation = make_automation(segment, template, cron="30 10 * * *", timezone="Europe/Paris")
    frozen.shift(dt.timedelta(seconds=2))

    tasks.automation_fire_task(automation.pk)

    assert AutomationRun.objects.get().due_at == NOW


def test_the_same_due_time_twice_runs_once(automation, frozen) -> None:
    first = services.automation_run(automation_id=automation.pk, due_at=NOW)
    second = services.automation_run(automation_id=automation.pk, due_at=NOW)

    assert first.created and not second.created
    assert second.run is not None and second.run.pk == first.run.pk  # type: ignore[union-attr]
    assert AutomationRun.objects.count() == 1
    assert Send.objects.count() == 1


def test_the_task_called_twice_sends_once(automation, frozen) -> None:
    tasks.automation_fire_task(automation.pk, NOW.isoformat())
    tasks.automation_fire_task(automation.pk, NOW.isoformat())

    assert AutomationRun.objects.count() == 1
    assert Send.objects.count() == 1


def test_a_firing_while_the_previous_run_still_sends_is_skipped(automation, frozen) -> None:
    previous = services.automation_run(automation_id=automation.pk, due_at=NOW - dt.timedelta(minutes=5)).run
    assert previous is not None and previous.status == R.RUNNING  # its Send has not finished

    result = services.automation_run(automation_id=automation.pk, due_at=NOW)

    assert result.run is not None
    assert (result.run.status, result.run.reason) == (R.SKIPPED, services.SKIP_PREVIOUS)
    assert Send.objects.count() == 1


def test_a_firing_later_than_the_catch_up_window_is_skipped_as_missed(automation, frozen, settings) -> None:
    settings.AUTOMATION_CATCHUP_MINUTES = 60

    result = services.automation_run(automation_id=automation.pk, due_at=NOW - dt.timedelta(minutes=61))

    assert result.run is not None
    assert (result.run.status, result.run.reason) == (R.SKIPPED, services.SKIP_MISSED)
    assert Send.objects.count() == 0


def test_a_firing_inside_the_catch_up_window_is_caught_up(automation, frozen, settings) -> None:
    settings.AUTOMATION_CATCHUP_MINUTES = 60

    result = services.automation_run(automation_id=automation.pk, due_at=NOW - dt.timedelta(minutes=59))

    assert result.run is not None and result.run.status == R.RUNNING
    assert Send.objects.count() == 1


def test_a_scheduled_firing_of_a_paused_automation_sends_nothing(automation, frozen) -> None:
    services.automation_pause(automation_id=automation.pk)

    result = services.automation_run(automation_id=automation.pk, due_at=NOW)

    assert result.run is not None and result.run.status == R.SKIPPED
    assert Send.objects.count() == 0


def test_a_firing_after_the_end_date_is_skipped_and_pauses_the_automation(automation, frozen) -> None:
    services.automation_update(automation=automation, end_date=NOW.date() - dt.timedelta(days=1))

    result = services.automation_run(automation_id=automation.pk, due_at=NOW)

    automation.refresh_from_db()
    assert result.run is not None and result.run.status == R.SKIPPED
    assert automation.is_active is False and "Ended" in automation.paused_reason


def test_a_segment_that_errors_fails_the_run_and_the_next_firing_still_runs(
    automation, segment, frozen, monkeypatch
) -> None:
    from segments.errors import SegmentError

    def broken(segment):  # type: ignore[no-untyped-def]
        raise SegmentError("canceling statement due to statement timeout")

    monkeypatch.setattr(services, "_audience", broken)
    failed = services.automation_run(automation_id=automation.pk, due_at=NOW - dt.timedelta(minutes=1))
    monkeypatch.undo()
    later = services.automation_run(automation_id=automation.pk, due_at=NOW)

    assert failed.run is not None and failed.run.status == R.FAILED
    assert "statement timeout" in failed.run.reason
    assert later.run is not None and later.run.status == R.RUNNING


def test_run_now_twice_in_the_same_minute_runs_once(automation, frozen) -> None:
    first = services.automation_run_now(automation_id=automation.pk)
    frozen.shift(dt.timedelta(seconds=20))
    second = services.automation_run_now(automation_id=automation.pk)

    assert first.created and not second.created
    assert AutomationRun.objects.get().trigger == AutomationRun.Trigger.MANUAL


def test_run_start_and_finish_are_in_the_creators_bell(automation, frozen, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run = services.automation_fire(automation_id=automation.pk).run
    assert run is not None
    assert run.send_id is not None
    with django_capture_on_commit_callbacks(execute=True):
        _send_all(run.send_id)  # type: ignore[arg-type]

    titles = list(Notification.objects.filter(user=automation.created_by).values_list("title", flat=True))
    assert any(t.startswith("Run started") for t in titles)
    assert any(t.startswith("Run finished") for t in titles)


def test_an_empty_segment_ends_the_run_sent_with_zero(
    automation, segment, frozen, django_capture_on_commit_callbacks
) -> None:
    segment.members.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        run = services.automation_fire(automation_id=automation.pk).run

    assert run is not None
    run.refresh_from_db()
    assert (run.status, run.audience_size, run.sent) == (R.SENT, 0, 0)


def test_a_cancelled_send_fails_the_run(automation, frozen, django_capture_on_commit_callbacks) -> None:
    run = services.automation_fire(automation_id=automation.pk).run
    assert run is not None

    with django_capture_on_commit_callbacks(execute=True):
        delivery_services.send_cancel(send_id=run.send_id, reason="Stopped by ann")  # type: ignore[arg-type]

    run.refresh_from_db()
    assert (run.status, run.reason) == (R.FAILED, "Stopped by ann")
