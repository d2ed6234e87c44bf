"""A journey's open and click tracking switches (issue 17): the builder, the API, and each step's Send."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from automations import journeys
from automations.journey_models import Journey
from delivery.models import Send
from tests.factories import user_with_role
from tests.journeys.conftest import make_contacts, tick, welcome

pytestmark = pytest.mark.django_db


def test_a_journey_created_in_the_builder_with_click_tracking_unticked_has_it_off(clock) -> None:
    client = Client()
    client.force_login(user_with_role("Campaign Manager"))

    client.post(
        "/journeys/new/",
        {
            "name": "Trial",
            "trigger_type": "api",
            "reentry": "once",
            "resume_mode": "send_late",
            "timezone": "UTC",
            "track_opens": "on",
        },
    )

    journey = Journey.objects.get()
    assert (journey.track_opens, journey.track_clicks) == (True, False)


def test_the_api_defaults_the_switches_on_and_changes_them(api: APIClient, clock) -> None:
    body = {"name": "Trial", "trigger": {"type": "api"}, "timezone": "UTC", "steps": []}
    created = api.post("/api/v1/journeys", body, format="json").json()

    changed = api.patch(f"/api/v1/journeys/{created['id']}", {"track_opens": False}, format="json").json()

    assert (created["track_opens"], created["track_clicks"]) == (True, True)
    assert (changed["track_opens"], changed["track_clicks"]) == (False, True)


def test_a_send_step_of_a_journey_without_open_tracking_creates_a_send_without_it(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome(track_opens=False)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in make_contacts(2)])

    tick(django_capture_on_commit_callbacks)

    send = Send.objects.get()
    assert (send.track_opens, send.track_clicks) == (False, True)
