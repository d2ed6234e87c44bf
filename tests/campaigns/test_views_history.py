"""Seed 004's campaign history: every campaign and scenario with creator, channel, audience, time and status."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Scenario
from segments.models import Segment
from tests.factories import CampaignFactory, ContactFactory, ScenarioFactory, add_to_batch, user_with_role

pytestmark = pytest.mark.django_db

S = Scenario.Status


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rows(response: object) -> list[int]:
    return [s.pk for s in response.context["page"]]  # type: ignore[attr-defined]


def test_history_row_shows_creator_channel_audience_time_and_status(viewer: User) -> None:
    creator = user_with_role()
    campaign = CampaignFactory.create(name="Autumn", created_by=creator, timezone="Europe/Berlin")
    add_to_batch(campaign.batch, ContactFactory.create_batch(2))
    ScenarioFactory.create(
        campaign=campaign, subject="First mail", send_time=dt.time(7, 45), status=S.SENT, created_by=creator
    )
    body = _client(viewer).get(reverse("campaigns:history")).content.decode()
    for text in (
        "Autumn",
        "First mail",
        creator.username,
        "Email",
        "Campaign batch (2 contacts)",
        "07:45",
        "Europe/Berlin",
        "Sent",
    ):
        assert text in body


def test_history_shows_a_segment_audience(viewer: User) -> None:
    segment = Segment.objects.create(name="VIPs", type=Segment.Type.MANUAL)
    ScenarioFactory.create(campaign=CampaignFactory.create(segment=segment))
    assert "Segment: VIPs" in _client(viewer).get(reverse("campaigns:history")).content.decode()


def test_history_filters_by_status(viewer: User) -> None:
    sent = ScenarioFactory.create(status=S.SENT)
    ScenarioFactory.create(status=S.SCHEDULED)
    response = _client(viewer).get(reverse("campaigns:history"), {"status": "sent"})
    assert _rows(response) == [sent.pk]


def test_history_status_filter_matches_the_campaign_status_too(viewer: User) -> None:
    paused_campaign = ScenarioFactory.create(campaign=CampaignFactory.create(status=Campaign.Status.PAUSED))
    ScenarioFactory.create()
    response = _client(viewer).get(reverse("campaigns:history"), {"status": "paused"})
    assert _rows(response) == [paused_campaign.pk]


def test_history_filters_by_creator(viewer: User) -> None:
    alice, bob = user_with_role(), user_with_role()
    by_alice = ScenarioFactory.create(campaign=CampaignFactory.create(created_by=alice))
    ScenarioFactory.create(campaign=CampaignFactory.create(created_by=bob))
    response = _client(viewer).get(reverse("campaigns:history"), {"created_by": alice.pk})
    assert _rows(response) == [by_alice.pk]
    assert set(response.context["form"].fields["created_by"].queryset) == {alice, bob}


def test_history_filters_by_date_range(viewer: User) -> None:
    today = timezone.localdate()
    campaign = CampaignFactory.create(start_date=today - dt.timedelta(days=30))
    ScenarioFactory.create(campaign=campaign, send_date=today - dt.timedelta(days=20))
    inside = ScenarioFactory.create(campaign=campaign, send_date=today - dt.timedelta(days=5))
    ScenarioFactory.create(campaign=campaign, send_date=today + dt.timedelta(days=5))
    params = {"date_from": (today - dt.timedelta(days=10)).isoformat(), "date_to": today.isoformat()}
    response = _client(viewer).get(reverse("campaigns:history"), params)
    assert _rows(response) == [inside.pk]


def test_history_search_matches_campaign_name_or_subject(viewer: User) -> None:
    by_name = ScenarioFactory.create(campaign=CampaignFactory.create(name="Black Friday"))
    by_subject = ScenarioFactory.create(subject="Friday reminder")
    ScenarioFactory.create(subject="Monday")
    response = _client(viewer).get(reverse("campaigns:history"), {"search": "friday"})
    assert set(_rows(response)) == {by_name.pk, by_subject.pk}


def test_history_lists_campaigns_without_scenarios(viewer: User) -> None:
    CampaignFactory.create(name="Still empty")
    ScenarioFactory.create(campaign=CampaignFactory.create(name="Has one"))
    response = _client(viewer).get(reverse("campaigns:history"))
    assert [c.name for c in response.context["empty_campaigns"]] == ["Still empty"]
    assert "Still empty" in response.content.decode()


def test_history_is_paginated(viewer: User) -> None:
    campaign = CampaignFactory.create()
    ScenarioFactory.create_batch(27, campaign=campaign)
    client = _client(viewer)
    assert len(_rows(client.get(reverse("campaigns:history")))) == 25
    assert len(_rows(client.get(reverse("campaigns:history"), {"page": 2}))) == 2


def test_history_ignores_a_malformed_date(viewer: User) -> None:
    scenario = ScenarioFactory.create()
    response = _client(viewer).get(reverse("campaigns:history"), {"date_from": "not-a-date"})
    assert response.status_code == 200
    assert _rows(response) == [scenario.pk]


def test_history_query_count_does_not_grow_with_rows(viewer: User) -> None:
    segment = Segment.objects.create(name="VIPs", type=Segment.Type.MANUAL)
    ScenarioFactory.create(campaign=CampaignFactory.create(segment=segment, created_by=user_with_role()))
    client = _client(viewer)
    client.get(reverse("campaigns:history"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("campaigns:history"))
    for _ in range(8):
        ScenarioFactory.create(campaign=CampaignFactory.create(segment=segment, created_by=user_with_role()))
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("campaigns:history"))
    assert len(many) == len(few)
