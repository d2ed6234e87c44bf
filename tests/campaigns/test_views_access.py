"""Every campaigns page: login required, readable by a Viewer, and no change possible as a Viewer."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Scenario
from tests.factories import CampaignFactory, ScenarioFactory

pytestmark = pytest.mark.django_db

READ_PAGES = [
    ("campaigns:list", None),
    ("campaigns:scenario-list", None),
    ("campaigns:history", None),
    ("campaigns:detail", "campaign"),
    ("campaigns:scenario-detail", "scenario"),
    ("campaigns:scenario-progress", "scenario"),
]

WRITE_URLS = [
    ("campaigns:create", None),
    ("campaigns:quick", None),
    ("campaigns:edit", "campaign"),
    ("campaigns:upload", "campaign"),
    ("campaigns:scenario-create", "campaign"),
    ("campaigns:scenario-edit", "scenario"),
    ("campaigns:scenario-action", "scenario"),
]


@pytest.fixture
def scenario() -> Scenario:
    return ScenarioFactory.create(send_date=timezone.localdate() + dt.timedelta(days=2))


def _url(name: str, kind: str | None, scenario: Scenario) -> str:
    if kind == "campaign":
        return reverse(name, args=[scenario.campaign_id])
    if kind == "scenario":
        return reverse(name, args=[scenario.pk])
    return reverse(name)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("name", "kind"), READ_PAGES)
def test_viewer_sees_every_read_page(viewer: User, scenario: Scenario, name: str, kind: str | None) -> None:
    response = _client(viewer).get(_url(name, kind, scenario))
    assert response.status_code == 200


@pytest.mark.parametrize(("name", "kind"), READ_PAGES + WRITE_URLS)
def test_anonymous_is_sent_to_login(scenario: Scenario, name: str, kind: str | None) -> None:
    response = Client().get(_url(name, kind, scenario))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "kind"), WRITE_URLS)
def test_viewer_post_is_forbidden_and_changes_nothing(
    viewer: User, scenario: Scenario, name: str, kind: str | None
) -> None:
    payload = {"name": "Hijack", "subject": "Hijack", "action": "cancel", "start_date": "2030-01-01"}
    response = _client(viewer).post(_url(name, kind, scenario), payload)
    assert response.status_code == 403
    scenario.refresh_from_db()
    assert scenario.status == Scenario.Status.SCHEDULED
    assert scenario.subject != "Hijack"
    assert Campaign.objects.count() == 1


def test_viewer_sees_no_change_buttons(viewer: User, scenario: Scenario) -> None:
    client = _client(viewer)
    listing = client.get(reverse("campaigns:list")).content.decode()
    detail = client.get(reverse("campaigns:detail", args=[scenario.campaign_id])).content.decode()
    scenario_page = client.get(reverse("campaigns:scenario-detail", args=[scenario.pk])).content.decode()
    assert reverse("campaigns:create") not in listing
    assert reverse("campaigns:scenario-create", args=[scenario.campaign_id]) not in detail
    assert reverse("campaigns:upload", args=[scenario.campaign_id]) not in detail
    assert reverse("campaigns:scenario-action", args=[scenario.pk]) not in scenario_page
    assert reverse("campaigns:scenario-edit", args=[scenario.pk]) not in scenario_page


def test_manager_sees_change_buttons(manager: User, scenario: Scenario) -> None:
    client = _client(manager)
    detail = client.get(reverse("campaigns:detail", args=[scenario.campaign_id])).content.decode()
    scenario_page = client.get(reverse("campaigns:scenario-detail", args=[scenario.pk])).content.decode()
    assert reverse("campaigns:scenario-create", args=[scenario.campaign_id]) in detail
    assert reverse("campaigns:upload", args=[scenario.campaign_id]) in detail
    assert reverse("campaigns:scenario-action", args=[scenario.pk]) in scenario_page


def test_unknown_campaign_is_404(viewer: User) -> None:
    assert _client(viewer).get(reverse("campaigns:detail", args=[999999])).status_code == 404


def test_campaign_list_is_paginated(viewer: User) -> None:
    CampaignFactory.create_batch(30)
    client = _client(viewer)
    first = client.get(reverse("campaigns:list"))
    second = client.get(reverse("campaigns:list"), {"page": 2})
    assert len(first.context["page"]) == 25
    assert len(second.context["page"]) == 5
