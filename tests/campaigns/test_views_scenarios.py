"""Scenario pages: create (timeline rule), edit (only while editable), list, the live progress partial and the
lifecycle buttons."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from campaigns import services
from campaigns.models import Campaign, Emailer, Scenario
from delivery.models import Send
from templates_app.models import MessageTemplate
from tests.factories import CampaignFactory, ScenarioFactory

pytestmark = pytest.mark.django_db

S = Scenario.Status


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _payload(campaign: Campaign, **overrides: str) -> dict[str, str]:
    payload = {
        "subject": "Hello",
        "content": "Hi {{ first_name }}",
        "template": "",
        "send_date": (timezone.localdate() + dt.timedelta(days=2)).isoformat(),
        "send_time": "10:30",
    }
    payload.update(overrides)
    return payload


def _with_send(scenario: Scenario, **send_fields: object) -> Send:
    """A scenario whose run the engine has started: its Emailer points at a Send with these counters."""
    send = Send.objects.create(
        subject=scenario.subject, started_at=timezone.now() - dt.timedelta(seconds=10), **send_fields
    )
    Emailer.objects.create(
        campaign=scenario.campaign,
        scenario=scenario,
        batch=scenario.campaign.batch,
        scheduled_at=timezone.now(),
        dispatched_at=timezone.now(),
        send=send,
    )
    return send


# --- create and edit ----------------------------------------------------------------------------------------


def test_create_scenario_inside_timeline_schedules_it(manager: User) -> None:
    campaign = CampaignFactory.create()
    response = _client(manager).post(reverse("campaigns:scenario-create", args=[campaign.pk]), _payload(campaign))
    scenario = Scenario.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:scenario-detail", args=[scenario.pk])
    assert scenario.campaign == campaign
    assert scenario.status == S.SCHEDULED
    assert scenario.send_time == dt.time(10, 30)
    assert scenario.created_by == manager


def test_create_scenario_as_draft(manager: User) -> None:
    campaign = CampaignFactory.create()
    _client(manager).post(reverse("campaigns:scenario-create", args=[campaign.pk]), _payload(campaign, draft="on"))
    assert Scenario.objects.get().status == S.DRAFT


def test_scenario_outside_timeline_shows_the_service_message(manager: User) -> None:
    campaign = CampaignFactory.create()
    outside = (campaign.end_date + dt.timedelta(days=1)).isoformat()
    response = _client(manager).post(
        reverse("campaigns:scenario-create", args=[campaign.pk]), _payload(campaign, send_date=outside)
    )
    assert response.status_code == 200
    expected = (
        f"The send date must be inside the campaign&#x27;s timeline ({campaign.start_date} to {campaign.end_date})."
    )
    assert expected in response.content.decode()
    assert not Scenario.objects.exists()


def test_scenario_with_a_template_from_the_dropdown(manager: User) -> None:
    campaign = CampaignFactory.create()
    template = MessageTemplate.objects.create(name="Newsletter", templating_type="html", message="<p>Hi</p>")
    MessageTemplate.objects.create(name="Chat", channel="whatsapp", templating_type="text", message="Hi")
    page = _client(manager).get(reverse("campaigns:scenario-create", args=[campaign.pk]))
    assert list(page.context["form"].fields["template"].queryset) == [template]
    _client(manager).post(
        reverse("campaigns:scenario-create", args=[campaign.pk]),
        _payload(campaign, content="", template=str(template.pk)),
    )
    assert Scenario.objects.get().template == template


def test_scenario_needs_content_or_template(manager: User) -> None:
    campaign = CampaignFactory.create()
    response = _client(manager).post(
        reverse("campaigns:scenario-create", args=[campaign.pk]), _payload(campaign, content="")
    )
    assert "Write the content or choose a template." in response.content.decode()
    assert not Scenario.objects.exists()


def test_edit_scheduled_scenario_saves(manager: User) -> None:
    scenario = ScenarioFactory.create(send_date=timezone.localdate() + dt.timedelta(days=2))
    response = _client(manager).post(
        reverse("campaigns:scenario-edit", args=[scenario.pk]), _payload(scenario.campaign, subject="Changed")
    )
    assert response.status_code == 302
    scenario.refresh_from_db()
    assert scenario.subject == "Changed"
    assert scenario.status == S.SCHEDULED


def test_edit_of_sent_scenario_shows_the_reason_instead_of_the_form(manager: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENT)
    response = _client(manager).get(reverse("campaigns:scenario-edit", args=[scenario.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "This scenario is sent; only draft or scheduled scenarios can be edited." in body
    assert 'name="subject"' not in body


def test_edit_post_of_sent_scenario_is_refused_with_reason(manager: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENT, subject="Original")
    response = _client(manager).post(
        reverse("campaigns:scenario-edit", args=[scenario.pk]), _payload(scenario.campaign, subject="Changed")
    )
    assert response.status_code == 409
    assert "only draft or scheduled scenarios can be edited" in response.content.decode()
    scenario.refresh_from_db()
    assert scenario.subject == "Original"


def test_scenario_list_filters_by_campaign_and_status(viewer: User) -> None:
    mine = CampaignFactory.create(name="Mine")
    wanted = ScenarioFactory.create(campaign=mine, subject="Wanted")
    ScenarioFactory.create(campaign=mine, subject="Draft one", status=S.DRAFT)
    ScenarioFactory.create(subject="Other campaign")
    response = _client(viewer).get(reverse("campaigns:scenario-list"), {"campaign": mine.pk, "status": "scheduled"})
    assert [s.pk for s in response.context["page"]] == [wanted.pk]
    assert "Mine" in response.content.decode()


def test_scenario_list_shows_every_scenario_with_its_campaign(viewer: User) -> None:
    first = ScenarioFactory.create(subject="First subject")
    second = ScenarioFactory.create(subject="Second subject")
    body = _client(viewer).get(reverse("campaigns:scenario-list")).content.decode()
    for scenario in (first, second):
        assert scenario.subject in body
        assert scenario.campaign.name in body


# --- progress -----------------------------------------------------------------------------------------------


def test_progress_partial_of_a_scheduled_scenario_waits_and_polls(viewer: User) -> None:
    scenario = ScenarioFactory.create(send_date=timezone.localdate() + dt.timedelta(days=1), send_time=dt.time(8, 15))
    response = _client(viewer).get(reverse("campaigns:scenario-progress", args=[scenario.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "Starts at" in body and "08:15" in body
    assert 'hx-trigger="every 5s"' in body


def test_progress_partial_while_sending_shows_counts_rate_and_eta(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENDING)
    _with_send(scenario, status=Send.Status.SENDING, total=200, sent=50, failed=4)
    response = _client(viewer).get(reverse("campaigns:scenario-progress", args=[scenario.pk]))
    body = response.content.decode()
    progress = response.context["progress"]
    assert progress.percent == 25
    assert "<strong>50</strong> / 200 sent" in body
    assert "4 failed" in body
    assert "146 waiting" in body
    assert "emails/s" in body
    assert "ETA " in body
    assert 'hx-trigger="every 1s"' in body


def test_progress_partial_while_the_rest_of_the_audience_is_written_shows_no_total_and_no_percent(
    viewer: User,
) -> None:
    scenario = ScenarioFactory.create(status=S.SENDING)
    send = _with_send(scenario, status=Send.Status.SENDING, total=100, sent=100)
    Send.objects.filter(pk=send.pk).update(snapshot_rest_sql="SELECT 1")  # the two-part snapshot's second part

    response = _client(viewer).get(reverse("campaigns:scenario-progress", args=[scenario.pk]))

    body = response.content.decode()
    assert response.context["progress"].percent == 0
    assert "preparing the rest of the audience (100 written so far)" in body
    assert "/ 100 sent" not in body and "ETA" not in body


def test_progress_partial_shows_the_status_reason_of_an_auto_pause(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.PAUSED)
    _with_send(
        scenario, status=Send.Status.PAUSED, status_reason="Error rate 12% over 10%", total=100, sent=30, failed=12
    )
    body = _client(viewer).get(reverse("campaigns:scenario-progress", args=[scenario.pk])).content.decode()
    assert "Error rate 12% over 10%" in body
    assert "ETA" not in body


def test_progress_partial_of_a_sent_scenario_stops_polling(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENT, contacts_served=100)
    _with_send(scenario, status=Send.Status.DONE, total=100, sent=100)
    body = _client(viewer).get(reverse("campaigns:scenario-progress", args=[scenario.pk])).content.decode()
    assert "<strong>100</strong> / 100 sent" in body
    assert "hx-trigger" not in body


def test_scenario_detail_embeds_the_polling_partial(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENDING)
    _with_send(scenario, status=Send.Status.SENDING, total=10, sent=1)
    body = _client(viewer).get(reverse("campaigns:scenario-detail", args=[scenario.pk])).content.decode()
    assert f'hx-get="{reverse("campaigns:scenario-progress", args=[scenario.pk])}"' in body
    assert escape(scenario.content) in body


# --- buttons ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "send_status", "failed", "buttons"),
    [
        (S.DRAFT, None, 0, ["send", "cancel"]),
        (S.SCHEDULED, None, 0, ["send", "cancel"]),
        (S.SENDING, Send.Status.SENDING, 0, ["pause", "cancel"]),
        (S.PAUSED, Send.Status.PAUSED, 3, ["resume", "retry", "cancel"]),
        (S.SENT, Send.Status.DONE, 2, ["retry"]),
        (S.SENT, Send.Status.DONE, 0, []),
        (S.CANCELLED, Send.Status.CANCELLED, 0, []),
    ],
)
def test_buttons_follow_the_status(
    manager: User, status: str, send_status: str | None, failed: int, buttons: list[str]
) -> None:
    scenario = ScenarioFactory.create(status=status)
    if send_status is not None:
        _with_send(scenario, status=send_status, total=10, sent=10 - failed, failed=failed)
    response = _client(manager).get(reverse("campaigns:scenario-progress", args=[scenario.pk]))
    assert [action for action, *_ in response.context["actions"]] == buttons


def test_cancel_button_cancels_a_scheduled_scenario(manager: User) -> None:
    scenario = ScenarioFactory.create(send_date=timezone.localdate() + dt.timedelta(days=2))
    response = _client(manager).post(reverse("campaigns:scenario-action", args=[scenario.pk]), {"action": "cancel"})
    assert response.status_code == 302
    scenario.refresh_from_db()
    assert scenario.status == S.CANCELLED


def test_send_now_button_hands_the_scenario_to_a_worker(manager: User) -> None:
    scenario = ScenarioFactory.create(status=S.DRAFT, send_date=timezone.localdate() + dt.timedelta(days=2))
    _client(manager).post(reverse("campaigns:scenario-action", args=[scenario.pk]), {"action": "send"})
    scenario.refresh_from_db()
    assert scenario.status == S.SENDING
    assert Emailer.objects.get(scenario=scenario).dispatched_at is not None


def test_pause_button_pauses_the_send(manager: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENDING)
    send = _with_send(scenario, status=Send.Status.SENDING, total=100, sent=10)
    _client(manager).post(reverse("campaigns:scenario-action", args=[scenario.pk]), {"action": "pause"})
    scenario.refresh_from_db()
    send.refresh_from_db()
    assert scenario.status == S.PAUSED
    assert send.status == Send.Status.PAUSED
    assert send.status_reason == f"Paused by {manager.username}"


@pytest.mark.parametrize("action", ["send", "pause", "resume", "cancel", "retry"])
def test_each_button_calls_scenario_action(manager: User, monkeypatch: pytest.MonkeyPatch, action: str) -> None:
    scenario = ScenarioFactory.create()
    calls: list[dict[str, object]] = []

    def fake_action(**kwargs: object) -> Scenario:
        calls.append(kwargs)
        return scenario

    monkeypatch.setattr(services, "scenario_action", fake_action)
    _client(manager).post(reverse("campaigns:scenario-action", args=[scenario.pk]), {"action": action})
    assert calls == [{"scenario_id": scenario.pk, "action": action, "user": manager}]


def test_refused_action_shows_the_service_reason(manager: User) -> None:
    scenario = ScenarioFactory.create()
    response = _client(manager).post(
        reverse("campaigns:scenario-action", args=[scenario.pk]), {"action": "resume"}, follow=True
    )
    assert "Only a paused scenario can be resumed; this one is scheduled." in response.content.decode()
    scenario.refresh_from_db()
    assert scenario.status == S.SCHEDULED


def test_unknown_action_changes_nothing(manager: User) -> None:
    scenario = ScenarioFactory.create()
    response = _client(manager).post(
        reverse("campaigns:scenario-action", args=[scenario.pk]), {"action": "explode"}, follow=True
    )
    assert "Unknown action" in response.content.decode()
    scenario.refresh_from_db()
    assert scenario.status == S.SCHEDULED


def test_scenario_detail_links_its_template(viewer: User) -> None:
    template = MessageTemplate.objects.create(name="Newsletter", templating_type="html", message="<p>Hi</p>")
    scenario = ScenarioFactory.create(content="", template=template)
    body = _client(viewer).get(reverse("campaigns:scenario-detail", args=[scenario.pk])).content.decode()
    assert f'<a href="{reverse("templates_app:detail", args=[template.pk])}">Newsletter</a>' in body
