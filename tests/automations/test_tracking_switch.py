"""An automation's open and click tracking switches (issue 17): the form, the API, and each run's Send."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from automations import services
from automations.models import Automation
from delivery.models import Send
from tests.automations.conftest import make_automation

pytestmark = pytest.mark.django_db


def _form(segment: Any, template: Any, **kwargs: str) -> dict[str, Any]:
    return {
        "name": "Digest",
        "segment": segment.pk,
        "template": template.pk,
        "mode": "weekly",
        "at_time": "09:30",
        "weekdays": ["1", "2", "3", "4", "5"],
        "cron": "30 9 * * 1-5",
        "timezone": "UTC",
        "is_active": "on",
    } | kwargs


def test_an_automation_created_with_open_tracking_unticked_has_it_off(client, manager, segment, template) -> None:
    client.force_login(manager)

    client.post(reverse("automations:create"), _form(segment, template, track_clicks="on"))

    automation = Automation.objects.get()
    assert (automation.track_opens, automation.track_clicks) == (False, True)


def test_the_edit_form_shows_the_switches_as_saved(client, manager, segment, template) -> None:
    automation = make_automation(segment, template, track_clicks=False)
    client.force_login(manager)

    html = client.get(reverse("automations:edit", args=[automation.pk])).content.decode()

    assert 'name="track_opens"' in html and 'name="track_clicks"' in html
    assert 'id="id_track_clicks" checked' not in html


def test_the_api_reads_and_changes_the_switches(api, automation) -> None:
    response = api.patch(f"/api/v1/automations/{automation.pk}", {"track_clicks": False}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["track_opens"], response.json()["track_clicks"]) == (True, False)


def test_a_run_of_an_automation_without_open_tracking_creates_a_send_without_it(
    segment, template, frozen, django_capture_on_commit_callbacks
) -> None:
    automation = make_automation(segment, template, track_opens=False)

    with django_capture_on_commit_callbacks(execute=True):
        services.automation_fire(automation_id=automation.pk)

    send = Send.objects.get()
    assert (send.track_opens, send.track_clicks) == (False, True)
