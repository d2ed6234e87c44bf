"""Issue 13 §3: a scenario's subject and content are checked like a template's (400 / form error with the line)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.forms import QuickCampaignForm, ScenarioForm
from campaigns.models import Campaign, Scenario
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

BROKEN_SUBJECT = "Hello {% if first_name %}{{ first_name }}"  # the replay: accepted (201), stuck in sending


def _scenario_body(**overrides: Any) -> dict[str, Any]:
    campaign = cast(Campaign, CampaignFactory())
    body = {
        "campaign": campaign.pk,
        "subject": "Hi",
        "content": "Hello {{ first_name }}",
        "send_date": str(timezone.localdate() + dt.timedelta(days=1)),
        "send_time": "09:00",
    }
    body.update(overrides)
    return body


def test_api_refuses_a_scenario_subject_with_a_syntax_error_with_the_line(api: APIClient) -> None:
    response = api.post("/api/v1/scenarios", _scenario_body(subject=BROKEN_SUBJECT), format="json")

    assert response.status_code == 400
    assert response.json()["subject"][0].startswith("Line 1:")
    assert not Scenario.objects.exists()


def test_api_refuses_scenario_content_with_a_syntax_error_with_the_line(api: APIClient) -> None:
    content = "Hello\n\n{{ first_name|nosuchfilter }}"

    response = api.post("/api/v1/scenarios", _scenario_body(content=content), format="json")

    assert response.status_code == 400
    assert response.json()["content"][0].startswith("Line 3:")


def test_api_refuses_a_tag_outside_the_sandbox_in_content(api: APIClient) -> None:
    response = api.post("/api/v1/scenarios", _scenario_body(content="{% load static %}{% debug %}"), format="json")

    assert response.status_code == 400
    assert "Only these tags are available" in response.json()["content"][0]


def test_api_patch_of_a_scenario_subject_is_checked_too(api: APIClient) -> None:
    created = api.post("/api/v1/scenarios", _scenario_body(), format="json").json()

    response = api.patch(f"/api/v1/scenarios/{created['id']}", {"subject": BROKEN_SUBJECT}, format="json")

    assert response.status_code == 400
    assert Scenario.objects.get(pk=created["id"]).subject == "Hi"


def test_api_accepts_a_valid_personalised_subject(api: APIClient) -> None:
    response = api.post(
        "/api/v1/scenarios", _scenario_body(subject='Hi {{ first_name|default:"there" }}'), format="json"
    )

    assert response.status_code == 201


def test_the_scenario_form_shows_a_subject_syntax_error_with_the_line() -> None:
    form = ScenarioForm(
        data={"subject": BROKEN_SUBJECT, "content": "x", "send_date": "2030-01-01", "send_time": "09:00"}
    )

    assert not form.is_valid()
    assert str(form.errors["subject"][0]).startswith("Line 1:")


def test_the_scenario_form_shows_a_content_syntax_error() -> None:
    form = ScenarioForm(
        data={"subject": "Hi", "content": "{% for x in y %}", "send_date": "2030-01-01", "send_time": "09:00"}
    )

    assert not form.is_valid()
    assert "content" in form.errors


def test_the_quick_campaign_form_refuses_a_subject_with_a_syntax_error() -> None:
    form = QuickCampaignForm(data={"name": "Q", "subject": BROKEN_SUBJECT, "content": "x", "audience": "segment"})

    assert not form.is_valid()
    assert str(form.errors["subject"][0]).startswith("Line 1:")
