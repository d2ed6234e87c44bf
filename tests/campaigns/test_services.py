from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Notification
from campaigns import services
from campaigns.models import Campaign, Emailer, Scenario
from delivery.models import Send
from tests.campaigns.clock import NOW, TODAY
from tests.factories import ContactFactory, add_to_batch
from tests.scheduler.fake_engine import FakeEngine

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def _campaign(user: User | None = None, **kwargs: Any) -> Campaign:
    values: dict[str, Any] = {
        "name": "Winter",
        "start_date": TODAY - dt.timedelta(days=1),
        "end_date": TODAY + dt.timedelta(days=10),
        "timezone": "UTC",
        "user": user,
    }
    values.update(kwargs)
    return services.campaign_create(**values)


def _scenario(campaign: Campaign, **kwargs: Any) -> Scenario:
    values: dict[str, Any] = {
        "campaign": campaign,
        "subject": "Hello",
        "content": "Hi there",
        "send_date": TODAY,
        "send_time": dt.time(12, 0),
    }
    values.update(kwargs)
    return services.scenario_create(**values)


def test_campaign_create_creates_its_batch() -> None:
    campaign = _campaign()
    assert campaign.batch_id is not None
    assert campaign.batch.source == "campaign"


def test_campaign_end_before_start_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        _campaign(start_date=TODAY, end_date=TODAY - dt.timedelta(days=1))
    assert "end_date" in exc.value.message_dict
    assert Campaign.objects.count() == 0


def test_scenario_outside_timeline_is_rejected_with_a_clear_message() -> None:
    campaign = _campaign()
    with pytest.raises(ValidationError) as exc:
        _scenario(campaign, send_date=TODAY + dt.timedelta(days=30))
    assert "timeline" in exc.value.message_dict["send_date"][0]
    assert Scenario.objects.count() == 0


def test_scenario_in_the_past_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        _scenario(_campaign(), send_time=dt.time(8, 0))
    assert "already passed" in exc.value.message_dict["send_time"][0]


def test_shrinking_timeline_past_a_scenario_is_rejected() -> None:
    campaign = _campaign()
    _scenario(campaign, send_date=TODAY + dt.timedelta(days=5))
    with pytest.raises(ValidationError) as exc:
        services.campaign_update(campaign=campaign, end_date=TODAY + dt.timedelta(days=2))
    assert "outside the new timeline" in exc.value.message_dict["end_date"][0]


def test_scenario_due_today_is_planned_at_once() -> None:
    scenario = _scenario(_campaign())
    emailer = Emailer.objects.get(scenario=scenario)
    assert emailer.active and not emailer.sent
    assert emailer.scheduled_at == dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def test_scenario_due_later_waits_for_its_days_plan() -> None:
    scenario = _scenario(_campaign(), send_date=TODAY + dt.timedelta(days=3))
    assert not Emailer.objects.filter(scenario=scenario).exists()


def test_editing_a_scheduled_scenario_moves_its_emailer() -> None:
    scenario = _scenario(_campaign())
    services.scenario_update(scenario=scenario, send_time=dt.time(15, 30))
    assert Emailer.objects.get(scenario=scenario).scheduled_at.hour == 15


def test_editing_a_sent_scenario_raises_state_error_with_the_reason() -> None:
    scenario = _scenario(_campaign())
    Scenario.objects.filter(pk=scenario.pk).update(status=Scenario.Status.SENT)
    with pytest.raises(services.ScenarioStateError, match="only draft or scheduled"):
        services.scenario_update(scenario=scenario, subject="Changed")
    assert Scenario.objects.get(pk=scenario.pk).subject == "Hello"


def test_draft_scenario_gets_no_emailer_until_scheduled() -> None:
    scenario = _scenario(_campaign(), draft=True)
    assert scenario.status == Scenario.Status.DRAFT
    assert not Emailer.objects.filter(scenario=scenario, active=True).exists()
    services.scenario_update(scenario=scenario, draft=False)
    assert Emailer.objects.get(scenario=scenario).active


def test_send_now_claims_the_emailer_and_marks_sending(
    engine: FakeEngine, django_capture_on_commit_callbacks: Any
) -> None:
    scenario = _scenario(_campaign(), draft=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sent = services.scenario_send(scenario_id=scenario.pk)
    assert sent.status == Scenario.Status.SENDING
    emailer = Emailer.objects.get(scenario=scenario)
    assert emailer.dispatched_at == NOW
    assert len(callbacks) == 1  # emailer_run_task enqueued on commit


def test_send_with_a_time_schedules(engine: FakeEngine) -> None:
    scenario = _scenario(_campaign(), draft=True)
    at = dt.datetime(2026, 11, 24, 9, 15, tzinfo=dt.UTC)
    sent = services.scenario_send(scenario_id=scenario.pk, at=at)
    assert (sent.status, sent.send_date, sent.send_time) == (Scenario.Status.SCHEDULED, at.date(), dt.time(9, 15))


def test_emailer_run_creates_the_send_from_the_scenario_for_the_batch(engine: FakeEngine) -> None:
    campaign = _campaign()
    add_to_batch(campaign.batch, ContactFactory.create_batch(3))
    scenario = _scenario(campaign, subject="Big news", content="Plain body")
    emailer = Emailer.objects.get(scenario=scenario)
    assert services.emailer_run(emailer_id=emailer.pk) == 3
    send = Send.objects.get()
    assert (send.subject, send.body_text) == ("Big news", "Plain body")
    emailer.refresh_from_db()
    assert emailer.send_id == send.pk and emailer.started_at == NOW
    assert Scenario.objects.get(pk=scenario.pk).status == Scenario.Status.SENDING


def test_emailer_run_twice_starts_one_send(engine: FakeEngine) -> None:
    emailer = Emailer.objects.get(scenario=_scenario(_campaign()))
    services.emailer_run(emailer_id=emailer.pk)
    assert services.emailer_run(emailer_id=emailer.pk) is None
    assert engine.names().count("send_start") == 1


def test_emailer_run_of_a_cancelled_scenario_sends_nothing(engine: FakeEngine) -> None:
    scenario = _scenario(_campaign())
    services.scenario_cancel(scenario_id=scenario.pk)
    assert services.emailer_run(emailer_id=scenario.emailer.pk) is None
    assert engine.calls == []


def _started(engine: FakeEngine, user: User | None = None) -> tuple[Scenario, Send]:
    campaign = _campaign(user=user)
    add_to_batch(campaign.batch, ContactFactory.create_batch(2))
    scenario = _scenario(campaign, user=user)
    services.emailer_run(emailer_id=scenario.emailer.pk)
    scenario.refresh_from_db()
    return scenario, Send.objects.get()


def test_finished_event_closes_emailer_and_scenario(engine: FakeEngine) -> None:
    scenario, send = _started(engine)
    Send.objects.filter(pk=send.pk).update(sent=2, status=Send.Status.DONE)
    services.on_send_event(send.pk, "finished", "")
    emailer = Emailer.objects.get(scenario=scenario)
    scenario.refresh_from_db()
    assert (emailer.active, emailer.sent, emailer.finished_at) == (False, True, NOW)
    assert (scenario.status, scenario.contacts_served, scenario.sent_at) == (Scenario.Status.SENT, 2, NOW)


def test_failed_event_marks_the_scenario_failed(engine: FakeEngine) -> None:
    scenario, send = _started(engine)
    services.on_send_event(send.pk, "failed", "Provider rejected the API key")
    scenario.refresh_from_db()
    assert scenario.status == Scenario.Status.FAILED
    assert not Emailer.objects.get(scenario=scenario).active


def test_pause_resume_cancel_delegate_to_the_engine(engine: FakeEngine) -> None:
    scenario, send = _started(engine)
    assert services.scenario_pause(scenario_id=scenario.pk).status == Scenario.Status.PAUSED
    assert services.scenario_resume(scenario_id=scenario.pk).status == Scenario.Status.SENDING
    assert services.scenario_cancel(scenario_id=scenario.pk).status == Scenario.Status.CANCELLED
    assert engine.names()[-3:] == ["send_pause", "send_resume", "send_cancel"]
    assert all(call[1]["send_id"] == send.pk for call in engine.calls[-3:])


def test_pause_of_a_scheduled_scenario_is_a_state_error(engine: FakeEngine) -> None:
    scenario = _scenario(_campaign())
    with pytest.raises(services.ScenarioStateError, match="Only a sending scenario"):
        services.scenario_pause(scenario_id=scenario.pk)


def test_retry_failed_reopens_the_emailer(engine: FakeEngine) -> None:
    scenario, send = _started(engine)
    Send.objects.filter(pk=send.pk).update(sent=1, failed=1)
    services.on_send_event(send.pk, "finished", "")
    retried = services.scenario_retry_failed(scenario_id=scenario.pk)
    assert retried.status == Scenario.Status.SENDING
    assert engine.names()[-1] == "send_retry_failed"
    assert Emailer.objects.get(scenario=scenario).sent is False


# --- notifications ------------------------------------------------------------------------------------------


def test_start_and_completion_notify_the_creator(engine: FakeEngine, manager: User) -> None:
    _, send = _started(engine, user=manager)
    services.on_send_event(send.pk, "started", "")  # the engine's own `started` came already: told once
    Send.objects.filter(pk=send.pk).update(sent=2)
    services.on_send_event(send.pk, "finished", "")
    services.on_send_event(send.pk, "finished", "")  # a repeated event notifies nobody twice
    titles = list(Notification.objects.filter(user=manager).order_by("id").values_list("title", flat=True))
    assert [t.split(":")[0] for t in titles] == ["Sending started", "Completed"]


def test_auto_pause_by_the_engine_notifies_with_the_reason(engine: FakeEngine, manager: User) -> None:
    scenario, send = _started(engine, user=manager)
    services.on_send_event(send.pk, "paused", "Error rate 35% passed 20%")
    note = Notification.objects.filter(user=manager).latest("id")
    assert note.title.startswith("Auto-paused") and "35%" in note.body
    assert Scenario.objects.get(pk=scenario.pk).status == Scenario.Status.PAUSED


def test_pause_by_the_user_is_not_reported_as_auto_pause(engine: FakeEngine, manager: User) -> None:
    scenario, send = _started(engine, user=manager)
    services.scenario_pause(scenario_id=scenario.pk, user=manager)
    services.on_send_event(send.pk, "paused", "Paused by you")
    assert not Notification.objects.filter(title__startswith="Auto-paused").exists()


def test_failure_notifies_the_creator(engine: FakeEngine, manager: User) -> None:
    _, send = _started(engine, user=manager)
    services.on_send_event(send.pk, "failed", "Invalid API key")
    assert Notification.objects.filter(user=manager).latest("id").level == Notification.Level.DANGER


def test_about_to_start_notifies_once_within_the_lead_time(manager: User, settings: Any) -> None:
    settings.NOTIFY_LEAD_MINUTES = 15
    scenario = _scenario(_campaign(user=manager), send_time=dt.time(10, 10), user=manager)
    assert services.emailers_notify_upcoming(now=timezone.now()) == 1
    assert services.emailers_notify_upcoming(now=timezone.now()) == 0
    note = Notification.objects.get(user=manager)
    assert note.title.startswith("About to start") and scenario.subject in note.title


def test_about_to_start_waits_until_the_lead_time(manager: User, settings: Any) -> None:
    settings.NOTIFY_LEAD_MINUTES = 15
    _scenario(_campaign(user=manager), send_time=dt.time(11, 0), user=manager)
    assert services.emailers_notify_upcoming(now=timezone.now()) == 0


def test_notification_email_copy_goes_to_the_creator(
    engine: FakeEngine, manager: User, settings: Any, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    settings.NOTIFY_BY_EMAIL = True
    _, send = _started(engine, user=manager)
    with django_capture_on_commit_callbacks(execute=True):
        services.on_send_event(send.pk, "failed", "Invalid API key")
    mail = mailoutbox
    assert [m.to for m in mail] == [[manager.email]]
    assert "Invalid API key" in mail[0].body


def test_scenario_time_is_read_in_the_campaign_zone() -> None:
    campaign = _campaign(timezone="Asia/Kolkata")
    scenario = _scenario(campaign, send_time=dt.time(18, 30))
    # 18:30 in Kolkata (UTC+5:30) is 13:00 UTC.
    assert Emailer.objects.get(scenario=scenario).scheduled_at == dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        _campaign(timezone="Mars/Olympus")
    assert "Unknown time zone" in exc.value.message_dict["timezone"][0]


def test_pausing_the_campaign_takes_back_waiting_emailers_and_activating_replans() -> None:
    campaign = _campaign()
    scenario = _scenario(campaign)
    services.campaign_update(campaign=campaign, status=Campaign.Status.PAUSED)
    assert Emailer.objects.get(scenario=scenario).active is False
    services.campaign_update(campaign=campaign, status=Campaign.Status.ACTIVE)
    assert Emailer.objects.get(scenario=scenario).active is True


def test_event_of_a_send_without_emailer_is_ignored(engine: FakeEngine) -> None:
    send = Send.objects.create(subject="Automation run")
    services.on_send_event(send.pk, "finished", "")
    assert not Notification.objects.exists()


def test_cancel_before_the_start_deactivates_the_emailer(engine: FakeEngine) -> None:
    scenario = _scenario(_campaign())
    assert services.scenario_cancel(scenario_id=scenario.pk).status == Scenario.Status.CANCELLED
    assert Emailer.objects.get(scenario=scenario).active is False
    assert engine.calls == []  # nothing was started, so the engine is not involved


def test_deleting_a_campaign_that_never_sent_removes_its_batch() -> None:
    from contacts.models import Batch

    campaign = _campaign()
    _scenario(campaign)
    services.campaign_delete(campaign_id=campaign.pk)
    assert not Campaign.objects.exists() and not Batch.objects.filter(pk=campaign.batch_id).exists()
