"""API v1 /automations: CRUD, run, pause, resume, runs, with ARCHITECTURE §5 field names and the roles."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from automations.models import Automation, AutomationRun
from tests.automations.conftest import NOW, make_template

pytestmark = pytest.mark.django_db

URL = "/api/v1/automations"


def _body(segment, template, **kwargs):  # type: ignore[no-untyped-def]
    return {
        "name": "Weekly digest",
        "segment": segment.pk,
        "template": template.pk,
        "cron": "30 9 * * 1-5",
        "timezone": "Europe/Paris",
        "is_active": True,
        "start_date": None,
        "end_date": None,
    } | kwargs


def test_create_answers_with_the_schedule_in_words_and_next_runs(api, segment, template, frozen) -> None:
    response = api.post(URL, _body(segment, template), format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert {"name", "segment", "template", "cron", "timezone", "is_active", "start_date", "end_date"} <= set(data)
    assert data["schedule_text"] == "At 09:30, Monday through Friday"
    assert data["next_runs"][0] == "2026-11-24T09:30:00+01:00"  # 09:30 UTC is 10:30 in Paris
    assert len(data["next_runs"]) == 5
    assert PeriodicTask.objects.filter(name=f"automation-{data['id']}", enabled=True).exists()


def test_read_list_patch_and_delete(api, automation) -> None:
    assert api.get(URL).json()["count"] == 1
    assert api.get(f"{URL}/{automation.pk}").json()["name"] == automation.name

    patched = api.patch(f"{URL}/{automation.pk}", {"cron": "0 8 * * *"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["schedule_text"] == "At 08:00"
    assert PeriodicTask.objects.get(name=automation.periodic_task_name).crontab.hour == "8"

    assert api.delete(f"{URL}/{automation.pk}").status_code == 204
    assert not Automation.objects.exists()
    assert not PeriodicTask.objects.filter(name=automation.periodic_task_name).exists()


def test_invalid_cron_is_400_naming_the_field_and_nothing_is_saved(api, segment, template) -> None:
    response = api.post(URL, _body(segment, template, cron="0 25 * * *"), format="json")

    assert response.status_code == 400
    assert "hour" in response.json()["cron"][0]
    assert not Automation.objects.exists()


def test_unknown_zone_and_whatsapp_template_are_400(api, segment) -> None:
    whatsapp = make_template(channel="whatsapp", message="Hi")

    response = api.post(URL, _body(segment, whatsapp, timezone="Nowhere/Else"), format="json")

    assert response.status_code == 400
    assert "timezone" in response.json() and "WhatsApp" in response.json()["template"][0]


def test_run_with_the_same_at_twice_runs_once(api, automation, frozen) -> None:
    first = api.post(f"{URL}/{automation.pk}/run", {"at": NOW.isoformat()}, format="json")
    second = api.post(f"{URL}/{automation.pk}/run", {"at": NOW.isoformat()}, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert AutomationRun.objects.count() == 1


def test_pause_resume_and_runs(api, automation, frozen) -> None:
    paused = api.post(f"{URL}/{automation.pk}/pause")
    assert paused.status_code == 200 and paused.json()["is_active"] is False
    resumed = api.post(f"{URL}/{automation.pk}/resume")
    assert resumed.status_code == 200 and resumed.json()["is_active"] is True
    api.post(f"{URL}/{automation.pk}/run", {}, format="json")

    runs = api.get(f"{URL}/{automation.pk}/runs").json()
    assert runs["count"] == 1
    assert runs["results"][0]["status"] == "running" and runs["results"][0]["audience_size"] == 3


def test_a_viewer_reads_but_cannot_write(viewer_api, automation, segment, template) -> None:
    assert viewer_api.get(URL).status_code == 200
    assert viewer_api.post(URL, _body(segment, template), format="json").status_code == 403
    assert viewer_api.post(f"{URL}/{automation.pk}/run", {}, format="json").status_code == 403
    assert viewer_api.post(f"{URL}/{automation.pk}/pause").status_code == 403
    assert viewer_api.delete(f"{URL}/{automation.pk}").status_code == 403
    assert not AutomationRun.objects.exists()


def test_the_automations_are_in_the_openapi_schema(api) -> None:
    schema = api.get("/api/schema/").content.decode()

    assert "/api/v1/automations/{id}/run" in schema
