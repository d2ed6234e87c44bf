"""Campaign pages: list with filters, create, edit, detail with its scenarios and batch size."""

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
from contacts.models import Batch
from tests.factories import CampaignFactory, ContactFactory, ScenarioFactory, add_to_batch

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _campaign_payload(**overrides: str) -> dict[str, str]:
    today = timezone.localdate()
    payload = {
        "name": "Spring launch",
        "description": "Three emails",
        "start_date": today.isoformat(),
        "end_date": (today + dt.timedelta(days=14)).isoformat(),
        "timezone": "Europe/Paris",
        "channel": "email",
        "segment": "",
        "status": "active",
    }
    payload.update(overrides)
    return payload


def test_create_campaign_makes_it_with_its_batch(manager: User) -> None:
    response = _client(manager).post(reverse("campaigns:create"), _campaign_payload())
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.pk])
    assert campaign.name == "Spring launch"
    assert campaign.timezone == "Europe/Paris"
    assert campaign.created_by == manager
    assert campaign.batch.source == Batch.Source.CAMPAIGN


def test_create_campaign_with_end_before_start_shows_error(manager: User) -> None:
    today = timezone.localdate()
    payload = _campaign_payload(end_date=(today - dt.timedelta(days=1)).isoformat())
    response = _client(manager).post(reverse("campaigns:create"), payload)
    assert response.status_code == 200
    assert "The end date must be on or after the start date." in response.content.decode()
    assert not Campaign.objects.exists()


def test_edit_campaign_saves_changes(manager: User) -> None:
    campaign = CampaignFactory.create(name="Old name")
    payload = _campaign_payload(
        name="New name",
        start_date=campaign.start_date.isoformat(),
        end_date=campaign.end_date.isoformat(),
        timezone=campaign.timezone,
    )
    response = _client(manager).post(reverse("campaigns:edit", args=[campaign.pk]), payload)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "New name"
    assert campaign.timezone == "UTC"


def test_edit_campaign_refuses_timeline_that_drops_a_scenario(manager: User) -> None:
    scenario = ScenarioFactory.create(send_date=timezone.localdate() + dt.timedelta(days=20))
    campaign = scenario.campaign
    payload = _campaign_payload(
        start_date=campaign.start_date.isoformat(),
        end_date=(timezone.localdate() + dt.timedelta(days=10)).isoformat(),
        timezone="UTC",
    )
    response = _client(manager).post(reverse("campaigns:edit", args=[campaign.pk]), payload)
    assert response.status_code == 200
    assert "would fall outside the new timeline" in response.content.decode()
    old_end = campaign.end_date
    campaign.refresh_from_db()
    assert campaign.end_date == old_end


def test_list_shows_audience_batch_size_and_scenario_count(viewer: User) -> None:
    campaign = CampaignFactory.create(name="Counted")
    add_to_batch(campaign.batch, ContactFactory.create_batch(3))
    ScenarioFactory.create_batch(2, campaign=campaign)
    response = _client(viewer).get(reverse("campaigns:list"))
    row = next(c for c in response.context["page"] if c.pk == campaign.pk)
    assert row.batch_size == 3
    assert row.scenario_count == 2
    assert row.audience == "Campaign batch (3 contacts)"
    assert "Counted" in response.content.decode()


def test_list_filters_by_search_and_status(viewer: User) -> None:
    CampaignFactory.create(name="Winter sale", status=Campaign.Status.ACTIVE)
    CampaignFactory.create(name="Winter archive", status=Campaign.Status.COMPLETED)
    CampaignFactory.create(name="Summer", status=Campaign.Status.ACTIVE)
    response = _client(viewer).get(reverse("campaigns:list"), {"search": "winter", "status": "active"})
    assert [c.name for c in response.context["page"]] == ["Winter sale"]


def test_list_ignores_a_malformed_filter(viewer: User) -> None:
    CampaignFactory.create(name="Any")
    response = _client(viewer).get(reverse("campaigns:list"), {"status": "bogus"})
    assert response.status_code == 200
    assert [c.name for c in response.context["page"]] == ["Any"]


def test_detail_shows_scenarios_and_batch_size(viewer: User) -> None:
    campaign = CampaignFactory.create()
    add_to_batch(campaign.batch, ContactFactory.create_batch(4))
    first = ScenarioFactory.create(campaign=campaign, subject="Welcome aboard")
    second = ScenarioFactory.create(
        campaign=campaign, subject="Follow up", send_date=timezone.localdate() + dt.timedelta(days=3)
    )
    response = _client(viewer).get(reverse("campaigns:detail", args=[campaign.pk]))
    body = response.content.decode()
    assert [s.pk for s, _ in response.context["rows"]] == [first.pk, second.pk]
    assert '<strong id="batch-size">4</strong>' in body
    assert "Welcome aboard" in body and "Follow up" in body


def test_list_overview_shows_next_sending_and_recently_sent(viewer: User) -> None:
    ScenarioFactory.create(subject="Coming up", send_date=timezone.localdate() + dt.timedelta(days=1))
    ScenarioFactory.create(subject="Going out", status=Scenario.Status.SENDING)
    ScenarioFactory.create(subject="Went out", status=Scenario.Status.SENT, sent_at=timezone.now())
    response = _client(viewer).get(reverse("campaigns:list"))
    assert [s.subject for s in response.context["upcoming"]] == ["Coming up"]
    assert [s.subject for s in response.context["ongoing"]] == ["Going out"]
    assert [s.subject for s in response.context["recent"]] == ["Went out"]
    assert 'id="overview"' in response.content.decode()


def test_list_overview_is_hidden_while_filtering(viewer: User) -> None:
    response = _client(viewer).get(reverse("campaigns:list"), {"search": "x"})
    assert 'id="overview"' not in response.content.decode()


def test_detail_query_count_does_not_grow_with_unstarted_scenarios(viewer: User) -> None:
    campaign = CampaignFactory.create()
    ScenarioFactory.create_batch(3, campaign=campaign)
    client = _client(viewer)
    client.get(reverse("campaigns:detail", args=[campaign.pk]))  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("campaigns:detail", args=[campaign.pk]))
    ScenarioFactory.create_batch(10, campaign=campaign)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("campaigns:detail", args=[campaign.pk]))
    assert len(many) == len(few)


def test_create_form_suggests_a_month_from_today(manager: User) -> None:
    form = _client(manager).get(reverse("campaigns:create")).context["form"]
    today = timezone.localdate()
    assert (form["start_date"].value(), form["end_date"].value()) == (today, today + dt.timedelta(days=30))
