"""Issue 12 §2 and §3 on the campaign and scenario pages: what the screen shows must match the state, and say it plainly."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns import selectors, services
from campaigns.models import Campaign, Emailer, Scenario
from contacts.models import Contact
from delivery.models import Send
from segments.models import Segment, SegmentMember
from templates_app import services as template_services
from templates_app.models import MessageTemplate
from templates_app.rendering import RenderedEmail
from tests.factories import CampaignFactory, ContactFactory, ScenarioFactory, add_to_batch

pytestmark = pytest.mark.django_db

S = Scenario.Status


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _with_send(scenario: Scenario, **send_fields: Any) -> Send:
    send = Send.objects.create(subject=scenario.subject, started_at=timezone.now(), **send_fields)
    Emailer.objects.create(
        campaign=scenario.campaign,
        scenario=scenario,
        batch=scenario.campaign.batch,
        scheduled_at=timezone.now(),
        dispatched_at=timezone.now(),
        send=send,
    )
    return send


def _fragment(user: User, scenario: Scenario) -> str:
    return _client(user).get(reverse("campaigns:scenario-progress", args=[scenario.pk])).content.decode()


def _segment_of(contacts: list[Contact]) -> Segment:
    segment = Segment.objects.create(name="VIPs", type=Segment.Type.MANUAL)
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=c) for c in contacts])
    return segment


# --- one fragment holds every part of the scenario's state -----------------------------------------------------


def test_polled_fragment_of_a_sent_scenario_shows_its_recipients_and_sent_time(viewer: User) -> None:
    sent_at = timezone.now() - dt.timedelta(minutes=3)
    scenario = ScenarioFactory.create(status=S.SENT, contacts_served=100, sent_at=sent_at)
    _with_send(scenario, status=Send.Status.DONE, total=100, sent=100)
    body = _fragment(viewer, scenario)
    assert re.search(r'id="scenario-recipients">100<', body)
    assert timezone.localtime(sent_at).strftime("%Y-%m-%d %H:%M") in body
    assert "This scenario is sent" in body
    assert "sending" not in body.lower().replace("sending now", "")


def test_polled_fragment_of_a_sent_scenario_stops_polling(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENT, contacts_served=5, sent_at=timezone.now())
    _with_send(scenario, status=Send.Status.DONE, total=5, sent=5)
    assert "hx-trigger" not in _fragment(viewer, scenario)


def test_scenario_page_shows_recipients_and_sent_at_only_inside_the_polled_fragment(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENDING)
    _with_send(scenario, status=Send.Status.SENDING, total=10, sent=4)
    page = _client(viewer).get(reverse("campaigns:scenario-detail", args=[scenario.pk])).content.decode()
    fragment = _fragment(viewer, scenario)
    for part in ('id="scenario-recipients"', 'id="scenario-sent-at"', 'id="edit-refusal-note"', "Recipients"):
        assert page.count(part) == 1
        assert part in fragment


def test_polled_fragment_while_sending_polls_every_second(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENDING)
    _with_send(scenario, status=Send.Status.SENDING, total=10, sent=4)
    assert 'hx-trigger="every 1s"' in _fragment(viewer, scenario)


# --- confirmations -------------------------------------------------------------------------------------------


def test_send_now_button_confirms_with_the_recipient_count(manager: User) -> None:
    scenario = ScenarioFactory.create(status=S.DRAFT, send_date=timezone.localdate() + dt.timedelta(days=2))
    add_to_batch(scenario.campaign.batch, ContactFactory.create_batch(3))
    body = _fragment(manager, scenario)
    button = re.search(r'<button[^>]*value="send"[^>]*>', body)
    assert button is not None
    assert "now to 3 recipients?" in button.group(0)
    assert "data-confirm=" in button.group(0)


def test_send_now_of_a_segment_campaign_counts_the_segment(manager: User) -> None:
    campaign = CampaignFactory.create(segment=_segment_of(ContactFactory.create_batch(2)))
    scenario = ScenarioFactory.create(campaign=campaign, status=S.DRAFT)
    assert "now to 2 recipients?" in _fragment(manager, scenario)


def test_cancel_button_confirms_through_data_confirm_without_inline_script(manager: User) -> None:
    scenario = ScenarioFactory.create(send_date=timezone.localdate() + dt.timedelta(days=2))
    body = _fragment(manager, scenario)
    assert 'data-confirm="Cancel this scenario?' in body
    assert "onclick" not in body


# --- audience size --------------------------------------------------------------------------------------------


def test_campaign_page_shows_the_segment_size_as_its_audience(viewer: User) -> None:
    campaign = CampaignFactory.create(segment=_segment_of(ContactFactory.create_batch(4)))
    body = _client(viewer).get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert '<strong id="audience-size">4</strong>' in body


def test_campaign_list_shows_the_segment_size_as_the_audience_size(viewer: User) -> None:
    campaign = CampaignFactory.create(segment=_segment_of(ContactFactory.create_batch(4)))
    response = _client(viewer).get(reverse("campaigns:list"))
    assert "Audience size" in response.content.decode()
    assert "Batch size" not in response.content.decode()
    assert [c.audience_size for c in response.context["page"] if c.pk == campaign.pk] == [4]


# --- the scenario form: a time still ahead, and "Send now" -----------------------------------------------------


def test_new_scenario_form_suggests_the_next_quarter_hour_in_the_campaign_zone(manager: User) -> None:
    campaign = CampaignFactory.create(timezone="Europe/Paris")
    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 7, tzinfo=dt.UTC), tick=False):  # 10:07 in Paris
        campaign.start_date, campaign.end_date = dt.date(2026, 11, 20), dt.date(2026, 12, 20)
        campaign.save()
        form = _client(manager).get(reverse("campaigns:scenario-create", args=[campaign.pk])).context["form"]
    assert (form.initial["send_date"], form.initial["send_time"]) == (dt.date(2026, 11, 23), dt.time(10, 15))


def test_suggested_time_near_a_quarter_leaves_time_to_fill_the_form() -> None:
    campaign = CampaignFactory.create(timezone="UTC", start_date=dt.date(2026, 11, 1), end_date=dt.date(2026, 12, 1))
    now = dt.datetime(2026, 11, 23, 23, 58, tzinfo=dt.UTC)
    assert selectors.scenario_suggested_send_at(campaign=campaign, now=now) == (dt.date(2026, 11, 24), dt.time(0, 15))


def test_suggested_time_of_a_timeline_not_begun_is_its_first_morning() -> None:
    campaign = CampaignFactory.create(start_date=dt.date(2026, 12, 1), end_date=dt.date(2026, 12, 31))
    now = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)
    assert selectors.scenario_suggested_send_at(campaign=campaign, now=now) == (dt.date(2026, 12, 1), dt.time(9, 0))


def test_new_scenario_with_the_suggested_time_is_accepted(manager: User) -> None:
    campaign = CampaignFactory.create()
    client = _client(manager)
    form = client.get(reverse("campaigns:scenario-create", args=[campaign.pk])).context["form"]
    payload = {
        "subject": "Hello",
        "content": "Hi",
        "template": "",
        "send_date": form.initial["send_date"].isoformat(),
        "send_time": form.initial["send_time"].strftime("%H:%M"),
    }
    response = client.post(reverse("campaigns:scenario-create", args=[campaign.pk]), payload)
    assert response.status_code == 302
    assert Scenario.objects.get(campaign=campaign).status == S.SCHEDULED


def test_scenario_form_offers_send_now_with_a_confirmation_of_the_count(manager: User) -> None:
    campaign = CampaignFactory.create()
    add_to_batch(campaign.batch, ContactFactory.create_batch(2))
    body = _client(manager).get(reverse("campaigns:scenario-create", args=[campaign.pk])).content.decode()
    button = re.search(r'<button[^>]*name="send_now"[^>]*>', body)
    assert button is not None
    assert "now to 2 recipients?" in button.group(0)


def test_send_now_from_the_form_creates_and_sends_even_with_a_past_time(manager: User) -> None:
    campaign = CampaignFactory.create()
    payload = {
        "subject": "Now",
        "content": "Hi",
        "template": "",
        "send_date": timezone.localdate().isoformat(),
        "send_time": "00:00",
        "send_now": "1",
    }
    response = _client(manager).post(reverse("campaigns:scenario-create", args=[campaign.pk]), payload)
    assert response.status_code == 302
    scenario = Scenario.objects.get(campaign=campaign)
    assert scenario.status == S.SENDING
    assert Emailer.objects.get(scenario=scenario).dispatched_at is not None


def test_send_now_from_the_form_in_a_paused_campaign_keeps_nothing(manager: User) -> None:
    campaign = CampaignFactory.create(status=Campaign.Status.PAUSED)
    payload = {"subject": "Now", "content": "Hi", "template": "", "send_date": timezone.localdate().isoformat()}
    payload |= {"send_time": "12:00", "send_now": "1"}
    response = _client(manager).post(reverse("campaigns:scenario-create", args=[campaign.pk]), payload)
    assert response.status_code == 200
    assert "make it active before sending" in response.content.decode()
    assert not Scenario.objects.filter(campaign=campaign).exists()


# --- words ----------------------------------------------------------------------------------------------------


def test_scenario_title_and_breadcrumb_show_placeholders_not_template_tags(viewer: User) -> None:
    scenario = ScenarioFactory.create(subject="Hi {{ first_name }}, news")
    body = _client(viewer).get(reverse("campaigns:scenario-detail", args=[scenario.pk])).content.decode()
    title = re.search(r"<title>(.*?)</title>", body, re.S)
    crumb = re.search(r'<li class="breadcrumb-item active">(.*?)</li>', body, re.S)
    assert title is not None and crumb is not None
    assert "Hi «first name», news" in title.group(1)
    assert crumb.group(1).strip() == "Hi «first name», news"
    assert "{{" not in title.group(1) + crumb.group(1)


def test_campaign_scenario_and_segment_pages_say_what_they_are(viewer: User) -> None:
    scenario = ScenarioFactory.create()
    client = _client(viewer)
    pages = {
        reverse("campaigns:list"): "A campaign is",
        reverse("campaigns:detail", args=[scenario.campaign_id]): "A campaign is",
        reverse("campaigns:scenario-list"): "A scenario is",
        reverse("campaigns:scenario-detail", args=[scenario.pk]): "A scenario is",
    }
    for url, words in pages.items():
        body = client.get(url).content.decode()
        assert re.search(rf'id="page-help">{words}', body), url
    detail = client.get(reverse("campaigns:detail", args=[scenario.campaign_id])).content.decode()
    assert 'id="batch-help">A batch is' in detail


def test_recipients_replaces_contacts_served_on_the_scenario_pages(viewer: User) -> None:
    scenario = ScenarioFactory.create(status=S.SENT, contacts_served=7)
    client = _client(viewer)
    for url in (
        reverse("campaigns:scenario-detail", args=[scenario.pk]),
        reverse("campaigns:scenario-list"),
        reverse("campaigns:history"),
        reverse("campaigns:detail", args=[scenario.campaign_id]),
    ):
        body = client.get(url).content.decode()
        assert "ecipient" in body, url
        assert "served" not in body.lower(), url


# --- send me a test ---------------------------------------------------------------------------------------------


@pytest.fixture
def sent_tests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RenderedEmail, str]]:
    """The template page's test sender, recording instead of sending."""
    sent: list[tuple[RenderedEmail, str]] = []

    def record(email: RenderedEmail, to: str, from_email: str) -> str:
        sent.append((email, to))
        return "recorded"

    monkeypatch.setattr(template_services, "TEST_SENDER", record)
    return sent


def test_scenario_test_send_sends_its_content_as_a_contact_to_the_address(
    manager: User, sent_tests: list[tuple[RenderedEmail, str]]
) -> None:
    scenario = ScenarioFactory.create(subject="Hi {{ first_name }}", content="Dear {{ first_name }}")
    ContactFactory.create(email="ada@example.com", first_name="Ada")
    response = _client(manager).post(
        reverse("campaigns:scenario-test-send", args=[scenario.pk]),
        {"to": "me@example.com", "contact": "ada@example.com"},
    )
    assert response.status_code == 302
    [(email, to)] = sent_tests
    assert to == "me@example.com"
    assert email.subject == "[Test] Hi Ada"
    assert "Dear Ada" in email.text
    assert Send.objects.count() == 0


def test_scenario_test_send_of_a_template_scenario_uses_the_scenario_subject(
    manager: User, sent_tests: list[tuple[RenderedEmail, str]]
) -> None:
    template = MessageTemplate.objects.create(
        name="T",
        channel=MessageTemplate.Channel.EMAIL,
        templating_type=MessageTemplate.TemplatingType.HTML,
        subject="Template subject",
        message="<p>From the template</p>",
    )
    scenario = ScenarioFactory.create(subject="Scenario subject", content="", template=template)
    _client(manager).post(reverse("campaigns:scenario-test-send", args=[scenario.pk]), {"to": "me@example.com"})
    [(email, _)] = sent_tests
    assert email.subject == "[Test] Scenario subject"
    assert "From the template" in email.html


def test_scenario_test_send_is_refused_to_a_viewer(viewer: User, sent_tests: list[tuple[RenderedEmail, str]]) -> None:
    scenario = ScenarioFactory.create()
    response = _client(viewer).post(
        reverse("campaigns:scenario-test-send", args=[scenario.pk]), {"to": "x@example.com"}
    )
    assert response.status_code == 403
    assert sent_tests == []


# --- campaigns close when their timeline is over -----------------------------------------------------------------


def test_last_send_finishing_after_the_timeline_completes_the_campaign() -> None:
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    campaign = CampaignFactory.create(start_date=yesterday - dt.timedelta(days=3), end_date=yesterday)
    scenario = ScenarioFactory.create(campaign=campaign, status=S.SENDING, send_date=yesterday)
    send = _with_send(scenario, status=Send.Status.DONE, total=1, sent=1)
    services.on_send_event(send.pk, "finished", "")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_send_finishing_inside_the_timeline_leaves_the_campaign_active() -> None:
    scenario = ScenarioFactory.create(status=S.SENDING)
    send = _with_send(scenario, status=Send.Status.DONE, total=1, sent=1)
    services.on_send_event(send.pk, "finished", "")
    scenario.campaign.refresh_from_db()
    assert scenario.campaign.status == Campaign.Status.ACTIVE


def test_campaign_with_a_scenario_still_waiting_is_not_completed() -> None:
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    campaign = CampaignFactory.create(start_date=yesterday - dt.timedelta(days=3), end_date=yesterday)
    ScenarioFactory.create(campaign=campaign, status=S.PAUSED, send_date=yesterday)
    assert services.campaign_complete_if_over(campaign_id=campaign.pk) is False
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE


def test_campaign_timeline_is_read_in_the_campaign_zone() -> None:
    # 23:30 UTC on the 23rd is already the 24th in Tokyo: a Tokyo campaign ending on the 23rd is over.
    campaign = CampaignFactory.create(
        timezone="Asia/Tokyo", start_date=dt.date(2026, 11, 20), end_date=dt.date(2026, 11, 23)
    )
    now = dt.datetime(2026, 11, 23, 23, 30, tzinfo=dt.UTC)
    assert services.campaign_complete_if_over(campaign_id=campaign.pk, now=now) is True
