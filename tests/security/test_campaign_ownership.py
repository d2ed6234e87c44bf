"""Issue 18 §1: CAMPAIGN_OWNERSHIP_ONLY limits Campaign Managers to the campaigns they created (and their
scenarios), on the dashboard and the API; off by default; Admins and Viewers keep seeing everything."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import roles, services
from campaigns.models import Campaign, Scenario
from tests.factories import CampaignFactory, ScenarioFactory, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def ownership(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CAMPAIGN_OWNERSHIP_ONLY = True


@pytest.fixture
def theirs() -> Campaign:
    return cast(Campaign, CampaignFactory(name="Theirs", created_by=user_with_role(roles.CAMPAIGN_MANAGER)))


@pytest.fixture
def mine(manager: User) -> Campaign:
    return cast(Campaign, CampaignFactory(name="Mine", created_by=manager))


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _names(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {row["name"] for row in response.json()["results"]}


def test_off_by_default_a_manager_sees_every_campaign(api: APIClient, mine: Campaign, theirs: Campaign) -> None:
    assert _names(api.get("/api/v1/campaigns")) == {"Mine", "Theirs"}


def test_a_manager_lists_only_their_campaigns_on_the_dashboard(
    ownership: None, manager: User, mine: Campaign, theirs: Campaign
) -> None:
    page = _logged_in(manager).get(reverse("campaigns:list")).context["page"]

    assert [campaign.name for campaign in page] == ["Mine"]


def test_a_manager_gets_404_for_another_managers_campaign_page(
    ownership: None, manager: User, theirs: Campaign
) -> None:
    assert _logged_in(manager).get(reverse("campaigns:detail", args=[theirs.pk])).status_code == 404


def test_a_manager_gets_404_for_a_scenario_of_another_managers_campaign(
    ownership: None, manager: User, theirs: Campaign
) -> None:
    scenario = cast(Scenario, ScenarioFactory(campaign=theirs))

    assert _logged_in(manager).get(reverse("campaigns:scenario-detail", args=[scenario.pk])).status_code == 404


def test_the_scenario_list_shows_only_their_campaigns_scenarios(
    ownership: None, manager: User, mine: Campaign, theirs: Campaign
) -> None:
    ScenarioFactory(campaign=mine, subject="Mine")
    ScenarioFactory(campaign=theirs, subject="Theirs")

    page = _logged_in(manager).get(reverse("campaigns:scenario-list")).context["page"]

    assert [scenario.subject for scenario in page] == ["Mine"]


def test_the_api_lists_only_their_campaigns(ownership: None, api: APIClient, mine: Campaign, theirs: Campaign) -> None:
    assert _names(api.get("/api/v1/campaigns")) == {"Mine"}


def test_the_api_cannot_change_another_managers_campaign(ownership: None, api: APIClient, theirs: Campaign) -> None:
    response = api.patch(f"/api/v1/campaigns/{theirs.pk}", {"description": "mine now"}, format="json")

    theirs.refresh_from_db()
    assert response.status_code == 404
    assert theirs.description != "mine now"


def test_the_api_cannot_add_a_scenario_to_another_managers_campaign(
    ownership: None, api: APIClient, theirs: Campaign
) -> None:
    body = {
        "campaign": theirs.pk,
        "subject": "Hello",
        "content": "Hi",
        "send_date": str(timezone.localdate() + dt.timedelta(days=1)),
        "send_time": "12:00",
    }

    response = api.post("/api/v1/scenarios", body, format="json")

    assert response.status_code == 400
    assert not Scenario.objects.exists()


def test_the_api_lists_only_their_campaigns_scenarios(
    ownership: None, api: APIClient, mine: Campaign, theirs: Campaign
) -> None:
    ScenarioFactory(campaign=mine)
    ScenarioFactory(campaign=theirs)

    assert {row["campaign"] for row in api.get("/api/v1/scenarios").json()["results"]} == {mine.pk}


def test_admins_and_viewers_still_see_every_campaign(
    ownership: None, admin_api: APIClient, viewer_api: APIClient, mine: Campaign, theirs: Campaign
) -> None:
    assert _names(admin_api.get("/api/v1/campaigns")) == {"Mine", "Theirs"}
    assert _names(viewer_api.get("/api/v1/campaigns")) == {"Mine", "Theirs"}


def test_a_managers_read_key_sees_no_more_than_they_do(
    ownership: None, manager: User, mine: Campaign, theirs: Campaign
) -> None:
    _, raw = services.api_key_create(owner=manager, name="x", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert _names(client.get("/api/v1/campaigns")) == {"Mine"}
