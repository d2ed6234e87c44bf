"""The journey builder pages: create a journey, add / edit / reorder / remove steps through the same service as
the API, activation errors shown on the step they name, and roles."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from automations import journeys
from automations.journey_models import Enrollment, Journey
from segments.models import Segment
from tests.factories import user_with_role
from tests.journeys.conftest import make_contacts, make_template, welcome

pytestmark = pytest.mark.django_db


def _client(role: str = "Campaign Manager") -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client


def _draft(steps: list[dict[str, Any]] | None = None) -> Journey:
    return journeys.journey_create(name="Onboarding", trigger={"type": "api"}, timezone="UTC", steps=steps or [])


def _add(client: Client, journey: Journey, **fields: Any) -> Any:
    data = {"unit": "minutes", **fields}
    return client.post(f"/journeys/{journey.pk}/steps/add/", data)


def test_a_manager_creates_a_journey_with_an_event_trigger_and_a_goal_from_the_builder(clock) -> None:
    response = _client().post(
        "/journeys/new/",
        {
            "name": "Trial",
            "trigger_type": "event",
            "trigger_stage": "signed_up",
            "goal_type": "event",
            "goal_stage": "paid",
            "reentry": "after_exit",
            "resume_mode": "skip_to_wait",
            "timezone": "Europe/Paris",
        },
    )
    journey = Journey.objects.get()
    assert response["Location"] == f"/journeys/{journey.pk}/edit/"
    assert journey.trigger == {"type": "event", "to_stage": "signed_up"}
    assert journey.goal == {"type": "event", "to_stage": "paid"}
    assert (journey.reentry, journey.resume_mode, journey.timezone) == ("after_exit", "skip_to_wait", "Europe/Paris")
    assert journey.status == "draft"


def test_the_builder_shows_the_services_message_on_the_trigger_field(clock) -> None:
    response = _client().post(
        "/journeys/new/",
        {"name": "Trial", "trigger_type": "event", "reentry": "once", "resume_mode": "send_late", "timezone": "UTC"},
    )
    assert response.status_code == 200
    assert "An event trigger needs a to_stage." in response.content.decode()
    assert not Journey.objects.exists()


def test_steps_of_every_type_added_in_the_builder_are_the_api_json(clock) -> None:
    journey = _draft()
    template = make_template()
    segment = Segment.objects.create(name="VIP", type=Segment.Type.MANUAL)
    client = _client()
    _add(client, journey, type="send", template=template.pk)
    _add(client, journey, type="wait", amount=2, unit="days")
    _add(client, journey, type="wait_until", time="09:30", weekdays=["1", "3"])
    _add(client, journey, type="exit", key="done")
    _add(client, journey, type="send", template=template.pk, key="vip")
    _add(client, journey, type="branch", condition_kind="segment", condition_segment=segment.pk, yes="vip", no="done")
    journey.refresh_from_db()
    assert journeys.steps_to_json(journey) == [
        {"key": "s1", "type": "send", "template": template.pk},
        {"key": "w1", "type": "wait", "minutes": 2880},
        {"key": "t1", "type": "wait_until", "time": "09:30", "weekdays": [1, 3]},
        {"key": "done", "type": "exit"},
        {"key": "vip", "type": "send", "template": template.pk},
        {
            "key": "b1",
            "type": "branch",
            "condition": {"type": "segment", "segment": segment.pk},
            "yes": "vip",
            "no": "done",
        },
    ]


def test_a_step_added_after_another_is_placed_there_with_a_jump(clock) -> None:
    journey = _draft([{"key": "s1", "type": "send"}, {"key": "x1", "type": "exit"}])
    _add(_client(), journey, type="wait", amount=30, after="s1", next="x1")
    journey.refresh_from_db()
    assert journeys.steps_to_json(journey)[1] == {"key": "w1", "type": "wait", "minutes": 30, "next": "x1"}


def test_moving_a_step_up_swaps_it_with_the_one_above(clock) -> None:
    journey = _draft([{"key": "a", "type": "send"}, {"key": "b", "type": "wait", "minutes": 5}])
    _client().post(f"/journeys/{journey.pk}/steps/b/move/", {"direction": "up"})
    assert [s["key"] for s in journeys.steps_to_json(journey)] == ["b", "a"]


def test_removing_a_step_in_the_builder_deletes_it(clock) -> None:
    journey = _draft([{"key": "a", "type": "send"}, {"key": "b", "type": "wait", "minutes": 5}])
    _client().post(f"/journeys/{journey.pk}/steps/a/remove/")
    assert [s["key"] for s in journeys.steps_to_json(journey)] == ["b"]


def test_editing_a_step_changes_it_and_a_renamed_key_keeps_the_paths_to_it(clock) -> None:
    journey = _draft(
        [
            {"key": "b", "type": "branch", "condition": {"type": "event", "to_stage": "x"}, "yes": "w", "no": "w"},
            {"key": "w", "type": "wait", "minutes": 5},
        ]
    )
    _client().post(f"/journeys/{journey.pk}/steps/w/", {"type": "wait", "key": "pause", "amount": 3, "unit": "hours"})
    steps = journeys.steps_to_json(journey)
    assert steps[1] == {"key": "pause", "type": "wait", "minutes": 180}
    assert (steps[0]["yes"], steps[0]["no"]) == ("pause", "pause")


def test_the_builder_shows_each_activation_error_next_to_the_step_it_names(clock) -> None:
    journey = _draft([{"key": "s1", "type": "send"}, {"key": "w1", "type": "wait", "minutes": 0}])
    page = _client().get(f"/journeys/{journey.pk}/edit/").content.decode()
    assert 'data-step-error="w1">Step w1: a wait must be more than 0 minutes.' in page
    assert 'data-step-error="s1">Step s1: choose a template.' in page


def test_a_loop_without_a_wait_is_shown_on_each_step_of_the_loop(clock) -> None:
    journey = _draft([{"key": "a", "type": "send", "next": "b"}, {"key": "b", "type": "send", "next": "a"}])
    page = _client().get(f"/journeys/{journey.pk}/edit/").content.decode()
    assert 'data-step-error="a">Steps a → b → a: a loop with no wait in it.' in page
    assert 'data-step-error="b">Steps a → b → a: a loop with no wait in it.' in page


def test_activating_from_the_journey_page_shows_the_refusal_on_the_step(clock) -> None:
    journey = _draft([{"key": "w", "type": "wait", "minutes": -5}])
    page = _client("Admin").post(f"/journeys/{journey.pk}/action/", {"action": "activate"}, follow=True)
    text = page.content.decode()
    assert 'data-step-error="w">Step w: a wait must be more than 0 minutes.' in text
    assert "The journey has no send step." in text
    assert Journey.objects.get().status == Journey.Status.DRAFT


def test_an_active_journey_refuses_a_step_change_that_fails_the_check_and_keeps_its_steps(clock) -> None:
    journey = welcome()
    response = _client().post(
        f"/journeys/{journey.pk}/steps/w1/", {"type": "wait", "key": "w1", "amount": 0, "unit": "days"}, follow=True
    )
    assert "Step w1: a wait must be more than 0 minutes." in response.content.decode()
    assert journeys.steps_to_json(journey)[1] == {"key": "w1", "type": "wait", "minutes": 2880}


def test_removing_a_step_contacts_wait_on_moves_them_to_the_next_one(clock) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    Enrollment.objects.update(step_key="w1", step_ran=True)
    _client().post(f"/journeys/{journey.pk}/steps/w1/remove/")
    assert Enrollment.objects.get().step_key == "s2"


def test_the_builder_states_the_editing_rule(clock) -> None:
    page = _client().get(f"/journeys/{welcome().pk}/edit/").content.decode()
    assert "steps a contact has not reached yet take effect for that contact" in page
    assert "step you remove moves to the step that followed it" in page


def test_a_viewer_cannot_open_the_builder_nor_change_a_step(clock) -> None:
    journey = _draft([{"key": "a", "type": "send"}])
    viewer = _client("Viewer")
    assert viewer.get("/journeys/new/").status_code == 403
    assert viewer.get(f"/journeys/{journey.pk}/edit/").status_code == 403
    assert _add(viewer, journey, type="exit").status_code == 403
    assert viewer.post(f"/journeys/{journey.pk}/steps/a/remove/").status_code == 403
    assert [s["key"] for s in journeys.steps_to_json(journey)] == ["a"]


def test_an_archived_journey_is_not_edited_by_the_builder(clock) -> None:
    journey = _draft([{"key": "a", "type": "send"}])
    journeys.journey_archive(journey_id=journey.pk)
    response = _add(_client(), journey, type="exit")
    assert "An archived journey cannot be edited." in response.content.decode()
    assert [s["key"] for s in journeys.steps_to_json(journey)] == ["a"]


def test_a_trigger_stage_no_event_ever_had_is_a_warning_on_the_draft_page_and_activation_still_works(clock) -> None:
    template = make_template()
    journey = journeys.journey_create(
        name="Odd stage",
        trigger={"type": "event", "to_stage": "never_seen"},
        timezone="UTC",
        steps=[{"key": "s1", "type": "send", "template": template.pk}],
    )
    client = _client()
    page = client.get(f"/journeys/{journey.pk}/").content.decode()
    assert "Trigger: no contact has ever had an event to stage “never_seen”." in page
    assert "Activation would be refused" not in page
    client.post(f"/journeys/{journey.pk}/action/", {"action": "activate"})
    assert Journey.objects.get().status == Journey.Status.ACTIVE
