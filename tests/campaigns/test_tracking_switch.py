"""A campaign's open and click tracking switches (issue 17): form, API, and the Send each run creates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import Campaign, Emailer
from delivery.models import Send
from tests.campaigns.clock import TODAY
from tests.factories import ContactFactory, add_to_batch
from tests.scheduler.fake_engine import FakeEngine

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def _payload(**overrides: str) -> dict[str, str]:
    return {
        "name": "Spring launch",
        "start_date": TODAY.isoformat(),
        "end_date": (TODAY + dt.timedelta(days=14)).isoformat(),
        "timezone": "UTC",
        "channel": "email",
        "segment": "",
        "status": "active",
        **overrides,
    }


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_new_campaign_form_offers_both_switches_on(manager: User) -> None:
    html = _client(manager).get(reverse("campaigns:create")).content.decode()

    assert 'name="track_opens"' in html and 'name="track_clicks"' in html
    assert html.count("checked") >= 2


def test_a_campaign_created_with_click_tracking_unticked_has_it_off(manager: User) -> None:
    _client(manager).post(reverse("campaigns:create"), _payload(track_opens="on"))

    campaign = Campaign.objects.get()
    assert (campaign.track_opens, campaign.track_clicks) == (True, False)


def test_unticking_open_tracking_on_the_edit_page_turns_it_off(manager: User) -> None:
    campaign = services.campaign_create(name="Winter", start_date=TODAY, end_date=TODAY + dt.timedelta(days=3))

    _client(manager).post(reverse("campaigns:edit", args=[campaign.pk]), _payload(track_clicks="on"))

    campaign.refresh_from_db()
    assert (campaign.track_opens, campaign.track_clicks) == (False, True)


def test_the_api_takes_the_switches_and_defaults_them_on(api: APIClient) -> None:
    body = {k: v for k, v in _payload().items() if k not in ("segment", "channel", "status")}
    on = api.post("/api/v1/campaigns", body, format="json").json()
    off = api.post("/api/v1/campaigns", {**body, "name": "Quiet", "track_opens": False}, format="json").json()

    assert (on["track_opens"], on["track_clicks"]) == (True, True)
    assert (off["track_opens"], off["track_clicks"]) == (False, True)


def test_a_run_of_a_campaign_without_click_tracking_creates_a_send_without_it(engine: FakeEngine) -> None:
    campaign = services.campaign_create(
        name="Winter", start_date=TODAY, end_date=TODAY + dt.timedelta(days=3), timezone="UTC", track_clicks=False
    )
    add_to_batch(campaign.batch, ContactFactory.create_batch(2))
    scenario = services.scenario_create(
        campaign=campaign, subject="Hello", content="Hi", send_date=TODAY, send_time=dt.time(12, 0)
    )

    services.emailer_run(emailer_id=Emailer.objects.get(scenario=scenario).pk)

    send: Any = Send.objects.get()
    assert (send.track_opens, send.track_clicks) == (True, False)
