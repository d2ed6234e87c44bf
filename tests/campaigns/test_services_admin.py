from __future__ import annotations

import datetime as dt
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Scenario
from tests.factories import ScenarioFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_user: User) -> Client:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/campaigns/campaign/",
        "/admin/campaigns/scenario/",
        "/admin/campaigns/emailer/",
        "/admin/scheduler/planrun/",
        "/admin/accounts/notification/",
    ],
)
def test_admin_changelists_load_with_search_and_filters(staff: Client, url: str) -> None:
    ScenarioFactory()
    assert staff.get(url, {"q": "x"}).status_code == 200


def test_admin_add_campaign_goes_through_the_service_and_gets_a_batch(staff: Client) -> None:
    today = timezone.localdate()
    response = staff.post(
        "/admin/campaigns/campaign/add/",
        {
            "name": "From admin",
            "description": "",
            "start_date": str(today),
            "end_date": str(today + dt.timedelta(days=3)),
            "timezone": "UTC",
            "channel": "email",
            "status": "active",
            "scenarios-TOTAL_FORMS": "0",
            "scenarios-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content
    assert Campaign.objects.get(name="From admin").batch_id is not None


def test_admin_scenario_outside_the_timeline_is_a_form_error(staff: Client) -> None:
    campaign = cast(Scenario, ScenarioFactory()).campaign
    response = staff.post(
        "/admin/campaigns/scenario/add/",
        {
            "campaign": campaign.pk,
            "subject": "Out",
            "content": "x",
            "send_date": str(campaign.end_date + dt.timedelta(days=10)),
            "send_time": "09:00",
        },
    )
    assert response.status_code == 200
    assert "timeline" in response.content.decode()
    assert not Scenario.objects.filter(subject="Out").exists()


def test_admin_pause_action_goes_through_the_service(staff: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from campaigns import engine as send_engine_seam
    from campaigns import services
    from campaigns.models import Emailer
    from tests.scheduler.fake_engine import FakeEngine

    engine = FakeEngine()
    monkeypatch.setattr(send_engine_seam, "send_engine", lambda: engine)
    scenario = cast(Scenario, ScenarioFactory(send_time=dt.time(23, 59)))
    emailer = services.emailer_plan(scenario=scenario)
    services.emailer_run(emailer_id=emailer.pk)
    response = staff.post(
        "/admin/campaigns/scenario/", {"action": "pause", "_selected_action": [scenario.pk]}, follow=True
    )
    assert response.status_code == 200
    assert Scenario.objects.get(pk=scenario.pk).status == Scenario.Status.PAUSED
    assert engine.names()[-1] == "send_pause"
    assert Emailer.objects.get(pk=emailer.pk).send_id is not None


def test_admin_does_not_edit_a_sent_scenario(staff: Client) -> None:
    scenario = cast(Scenario, ScenarioFactory(status=Scenario.Status.SENT))
    response = staff.post(f"/admin/campaigns/scenario/{scenario.pk}/change/", {"subject": "Changed"})
    assert response.status_code == 403
    assert Scenario.objects.get(pk=scenario.pk).subject != "Changed"
