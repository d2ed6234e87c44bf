"""API v1 /journeys: the §5 JSON both ways, activation refused with a message naming the step, enroll with
per-item errors, enrollments and cancel, roles."""

from __future__ import annotations

from typing import Any

import pytest

from automations.models import Enrollment, Journey
from tests.journeys.conftest import make_contacts, make_template

pytestmark = pytest.mark.django_db


def _body(**kwargs: Any) -> dict[str, Any]:
    t = make_template("Welcome")
    return {
        "name": "Welcome",
        "trigger": {"type": "api"},
        "goal": {"type": "event", "to_stage": "converted"},
        "reentry": "once",
        "timezone": "UTC",
        "steps": [
            {"key": "s1", "type": "send", "template": t.pk},
            {"key": "w1", "type": "wait", "minutes": 2880},
            {"key": "w2", "type": "wait_until", "time": "09:00", "weekdays": [1, 2, 3, 4, 5]},
            {"key": "x1", "type": "exit"},
        ],
    } | kwargs


def test_create_and_read_back_the_journey_json(api) -> None:
    body = _body()
    created = api.post("/api/v1/journeys", body, format="json")
    assert created.status_code == 201, created.json()
    data = api.get(f"/api/v1/journeys/{created.json()['id']}").json()
    assert data["status"] == "draft"
    assert data["steps"] == body["steps"]
    assert (data["trigger"], data["goal"], data["reentry"]) == (body["trigger"], body["goal"], "once")


def test_a_malformed_step_is_400_naming_it_and_nothing_is_saved(api) -> None:
    body = _body(steps=[{"key": "s1", "type": "teleport"}])
    response = api.post("/api/v1/journeys", body, format="json")
    assert response.status_code == 400
    assert "Step s1" in str(response.json())
    assert not Journey.objects.exists()


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"key": "w1", "type": "wait", "minutes": 10}], "The journey has no send step."),
        ([{"key": "s1", "type": "send", "template": "T"}, {"key": "w1", "type": "wait", "minutes": 0}], "Step w1"),
        (
            [
                {"key": "s1", "type": "send", "template": "T"},
                {"key": "b1", "type": "branch", "condition": {"type": "event", "to_stage": "x"}, "yes": "s1"},
            ],
            "Step b1: a branch needs a yes path and a no path.",
        ),
        (
            [
                {"key": "s1", "type": "send", "template": "T"},
                {
                    "key": "b1",
                    "type": "branch",
                    "condition": {"type": "event", "to_stage": "x"},
                    "yes": "s1",
                    "no": "s1",
                },
            ],
            "a loop with no wait",
        ),
    ],
)
def test_activation_refuses_a_bad_journey_naming_the_step(api, steps, message) -> None:
    template = make_template("T")
    for step in steps:
        if step.get("template") == "T":
            step["template"] = template.pk
    journey = api.post("/api/v1/journeys", _body(steps=steps), format="json").json()
    response = api.post(f"/api/v1/journeys/{journey['id']}/activate")
    assert response.status_code == 400
    assert message in str(response.json())
    assert Journey.objects.get().status == "draft"


def test_activation_refuses_a_template_that_fails_the_pre_send_check(api) -> None:
    bad = make_template("Bad", message="<p>Hello {% if %}</p>")
    journey = api.post(
        "/api/v1/journeys", _body(steps=[{"key": "s1", "type": "send", "template": bad.pk}]), format="json"
    ).json()
    response = api.post(f"/api/v1/journeys/{journey['id']}/activate")
    assert response.status_code == 400
    assert "Step s1: template" in str(response.json())


def test_activate_warns_about_a_trigger_stage_no_event_ever_had(api) -> None:
    journey = api.post("/api/v1/journeys", _body(trigger={"type": "event", "to_stage": "nope"}), format="json").json()
    response = api.post(f"/api/v1/journeys/{journey['id']}/activate")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    assert "nope" in response.json()["warnings"][0]


def test_enroll_with_an_unknown_email_gives_a_per_item_error_and_enrolls_the_rest(api) -> None:
    a, b = make_contacts(2)
    journey = api.post("/api/v1/journeys", _body(), format="json").json()
    api.post(f"/api/v1/journeys/{journey['id']}/activate")
    response = api.post(
        f"/api/v1/journeys/{journey['id']}/enroll",
        {"contact_ids": [a.pk, 999999], "emails": ["nobody@example.com", b.email]},
        format="json",
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["enrolled", "error", "error", "enrolled"]
    assert results[2]["error"] == "No contact with this email."
    assert Enrollment.objects.count() == 2


def test_enroll_into_a_draft_journey_is_409(api) -> None:
    journey = api.post("/api/v1/journeys", _body(), format="json").json()
    assert api.post(f"/api/v1/journeys/{journey['id']}/enroll", {"contact_ids": []}, format="json").status_code == 409


def test_a_status_filter_outside_the_statuses_is_a_400_naming_them(api) -> None:
    journey = api.post("/api/v1/journeys", _body(), format="json").json()
    for path in (f"/api/v1/journeys/{journey['id']}/enrollments", "/api/v1/journeys"):
        refused = api.get(path, {"status": "act\x00ive"})
        assert refused.status_code == 400, path
        assert "active" in refused.json()["status"][0]
        assert api.get(path, {"status": "draft" if path.endswith("journeys") else "completed"}).status_code == 200


def test_list_enrollments_pause_and_cancel_one(api) -> None:
    (a,) = make_contacts(1)
    journey = api.post("/api/v1/journeys", _body(), format="json").json()
    api.post(f"/api/v1/journeys/{journey['id']}/activate")
    api.post(f"/api/v1/journeys/{journey['id']}/enroll", {"contact_ids": [a.pk]}, format="json")
    listed = api.get(f"/api/v1/journeys/{journey['id']}/enrollments").json()
    assert listed["count"] == 1 and listed["results"][0]["email"] == a.email
    enrollment_id = listed["results"][0]["id"]
    assert api.post(f"/api/v1/enrollments/{enrollment_id}/cancel").json()["status"] == "cancelled"
    assert api.post(f"/api/v1/enrollments/{enrollment_id}/cancel").status_code == 409
    assert api.post(f"/api/v1/journeys/{journey['id']}/pause").json()["status"] == "paused"


def test_patch_steps_of_an_active_journey_is_checked_again(api) -> None:
    journey = api.post("/api/v1/journeys", _body(), format="json").json()
    api.post(f"/api/v1/journeys/{journey['id']}/activate")
    response = api.patch(
        f"/api/v1/journeys/{journey['id']}", {"steps": [{"key": "w1", "type": "wait", "minutes": 5}]}, format="json"
    )
    assert response.status_code == 400
    assert "no send step" in str(response.json())
    assert len(api.get(f"/api/v1/journeys/{journey['id']}").json()["steps"]) == 4


def test_a_viewer_reads_but_cannot_create(viewer_api) -> None:
    assert viewer_api.get("/api/v1/journeys").status_code == 200
    assert viewer_api.post("/api/v1/journeys", _body(), format="json").status_code == 403


def test_the_journey_endpoints_are_in_the_openapi_schema(admin_api) -> None:
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/v1/journeys", "/enroll", "/activate", "/api/v1/enrollments/{id}/cancel"):
        assert path in schema
