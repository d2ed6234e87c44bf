"""The engine's set-based group path (automations/journey_groups.py, PostgreSQL): a claimed batch advances by
(journey, step, state) group with a few statements per group, exactly once per (enrollment, step visit)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import connection

from automations import journey_groups, journeys
from automations.models import Enrollment, EnrollmentStep, Journey
from contacts.models import Contact, FunnelEvent
from contacts.services import contact_unsubscribe
from delivery.models import Delivery, Send
from tests.journeys.conftest import T0, make_contacts, make_template, welcome

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the group path is PostgreSQL's"),
]

E = Enrollment.Status


def _advance(capture, **kwargs) -> dict[str, int]:
    with capture(execute=False):  # the page messages are not the point here
        return journeys.journeys_advance(**kwargs)


def _enrolled(n: int, prefix: str = "c", **welcome_kwargs) -> tuple[list[Contact], int]:
    journey = welcome(**welcome_kwargs)
    contacts = make_contacts(n, prefix=prefix)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in contacts])
    return contacts, journey.pk


def test_a_group_becomes_one_send_with_one_history_row_per_member_and_step(
    clock, django_capture_on_commit_callbacks
) -> None:
    _enrolled(6)
    result = _advance(django_capture_on_commit_callbacks)

    assert result["claimed"] == 6 and result["handed"] == 6
    assert Send.objects.count() == 1
    assert Delivery.objects.count() == 6
    assert EnrollmentStep.objects.filter(step_key="s1", visit=1, outcome="sent").count() == 6
    assert EnrollmentStep.objects.filter(step_key="w1", visit=2, outcome="waiting").count() == 6
    assert set(Enrollment.objects.values_list("step_key", "visit", "step_ran", "next_at")) == {
        ("w1", 2, True, T0 + dt.timedelta(days=2))
    }


def test_a_group_claimed_twice_for_the_same_visit_is_in_one_audience(clock, django_capture_on_commit_callbacks) -> None:
    _enrolled(4)
    before = list(Enrollment.objects.values("pk", "step_key", "visit"))
    _advance(django_capture_on_commit_callbacks)
    # A stale copy of the whole group written back (a crashed worker's state replayed): same step, same visit.
    for row in before:
        Enrollment.objects.filter(pk=row["pk"]).update(
            step_key=row["step_key"], visit=row["visit"], step_ran=False, next_at=T0
        )
    _advance(django_capture_on_commit_callbacks)

    assert Delivery.objects.count() == 4
    assert EnrollmentStep.objects.filter(step_key="s1").count() == 4
    assert Send.objects.filter(total=0).count() == 1  # the second Send found nobody to send to


def test_a_worker_dying_mid_batch_leaves_nothing_and_the_next_claim_sends_once(
    clock, django_capture_on_commit_callbacks
) -> None:
    _enrolled(5)
    with mock.patch.object(journey_groups, "write_end", side_effect=SystemExit("killed")), pytest.raises(SystemExit):
        _advance(django_capture_on_commit_callbacks)
    assert not EnrollmentStep.objects.exists()
    assert not Delivery.objects.exists()

    assert _advance(django_capture_on_commit_callbacks)["handed"] == 5
    assert Delivery.objects.count() == 5
    assert set(Enrollment.objects.values_list("step_key", flat=True)) == {"w1"}


def test_a_branch_splits_a_group_into_a_yes_and_a_no_path(clock, django_capture_on_commit_callbacks) -> None:
    yes, no = make_template("Yes path"), make_template("No path")
    journey = journeys.journey_create(
        name="Branchy",
        trigger={"type": "api"},
        timezone="UTC",
        steps=[
            {
                "key": "b1",
                "type": "branch",
                "condition": {"type": "event", "to_stage": "trial"},
                "yes": "s_yes",
                "no": "s_no",
            },
            {"key": "s_yes", "type": "send", "template": yes.pk, "next": "w1"},
            {"key": "s_no", "type": "send", "template": no.pk, "next": "x1"},
            {"key": "w1", "type": "wait", "minutes": 60},
            {"key": "x1", "type": "exit"},
        ],
    )
    journeys.journey_activate(journey_id=journey.pk)
    contacts = make_contacts(5)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in contacts])
    for contact in contacts[:2]:
        FunnelEvent.objects.create(contact=contact, funnel_type="sales", to_stage="trial")
    _advance(django_capture_on_commit_callbacks)

    subjects = dict(Delivery.objects.values_list("contact_id", "send__subject"))
    assert subjects == {c.pk: ("Yes path" if c in contacts[:2] else "No path") for c in contacts}
    states = dict(Enrollment.objects.values_list("contact_id", "status"))
    assert states == {c.pk: (E.ACTIVE if c in contacts[:2] else E.COMPLETED) for c in contacts}
    waiting = EnrollmentStep.objects.filter(step_key="w1", outcome="waiting", visit=3)
    assert set(waiting.values_list("enrollment__contact_id", flat=True)) == {c.pk for c in contacts[:2]}
    assert EnrollmentStep.objects.filter(step_key="x1", outcome="exited", visit=3).count() == 3


def test_goal_and_unsubscribe_exits_leave_the_group_before_it_walks(clock, django_capture_on_commit_callbacks) -> None:
    contacts, _ = _enrolled(4, goal={"type": "event", "to_stage": "converted"})
    contact_unsubscribe(contact_id=contacts[0].pk)
    FunnelEvent.objects.create(contact=contacts[1], funnel_type="sales", to_stage="converted")
    result = _advance(django_capture_on_commit_callbacks)

    assert result[E.EXITED_UNSUBSCRIBED] == 1 and result[E.EXITED_GOAL] == 1
    states = dict(Enrollment.objects.values_list("contact_id", "status"))
    assert states[contacts[0].pk] == E.EXITED_UNSUBSCRIBED
    assert states[contacts[1].pk] == E.EXITED_GOAL
    assert set(Delivery.objects.values_list("contact_id", flat=True)) == {contacts[2].pk, contacts[3].pk}
    assert not EnrollmentStep.objects.filter(enrollment__contact__in=contacts[:2]).exists()


def test_a_batch_with_members_on_different_steps_advances_each_group_on_its_path(
    clock, django_capture_on_commit_callbacks
) -> None:
    first, second = _enrolled(3), _enrolled(2, prefix="d")
    _advance(django_capture_on_commit_callbacks)  # both journeys' contacts now wait on w1
    clock.move_to(T0 + dt.timedelta(days=2))
    third = make_contacts(2, prefix="late")
    journeys.journey_enroll(journey_id=first[1], contact_ids=[c.pk for c in third])
    result = _advance(django_capture_on_commit_callbacks)

    assert result["claimed"] == 7 and result["handed"] == 7
    # One Send per (journey, step) of the batch: s2 of each journey and s1 of the first.
    assert Send.objects.count() == 2 + 3
    steps = dict(Enrollment.objects.values_list("contact_id", "step_key"))
    assert {steps[c.pk] for c in first[0] + second[0]} == {"w2"}
    assert {steps[c.pk] for c in third} == {"w1"}


def test_rows_a_group_cannot_take_walk_row_by_row(clock, django_capture_on_commit_callbacks) -> None:
    contacts, _ = _enrolled(2)
    # Resting on a step that is no longer a wait (edited from a wait into a send): the per-row walk runs it.
    Enrollment.objects.filter(contact=contacts[0]).update(step_ran=True)
    _advance(django_capture_on_commit_callbacks)

    assert EnrollmentStep.objects.filter(enrollment__contact=contacts[0], step_key="s1", visit=2).exists()
    assert EnrollmentStep.objects.filter(enrollment__contact=contacts[1], step_key="s1", visit=1).exists()
    assert Delivery.objects.count() == 2


def test_the_history_goes_with_its_journey_and_its_send_is_unset_when_the_send_goes(
    clock, django_capture_on_commit_callbacks
) -> None:
    # The history has no database-level foreign keys (the per-row checks at COMMIT): the ORM cascades.
    _, journey_id = _enrolled(2)
    _advance(django_capture_on_commit_callbacks)
    Send.objects.all().delete()
    assert EnrollmentStep.objects.filter(send__isnull=False).count() == 0
    assert EnrollmentStep.objects.count() == 4

    Journey.objects.filter(pk=journey_id).delete()
    assert not EnrollmentStep.objects.exists()
