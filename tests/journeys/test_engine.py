"""The journey engine: waits, sends through the delivery engine, branches, goal and unsubscribe exits, and exactly
once per (enrollment, step visit)."""

from __future__ import annotations

import datetime as dt

import pytest

from automations import journeys
from automations.models import Enrollment, EnrollmentStep, Journey
from contacts.models import Contact, FunnelEvent
from contacts.services import contact_unsubscribe
from delivery.models import Delivery, OutboxMessage
from segments.models import Segment, SegmentMember
from tests.journeys.conftest import T0, make_contacts, make_template, tick, welcome

pytestmark = pytest.mark.django_db

E = Enrollment.Status


def _sent_at(contact: Contact) -> list[tuple[str, dt.datetime | None]]:
    rows = Delivery.objects.filter(contact=contact, status=Delivery.Status.SENT).order_by("sent_at")
    return [(d.send.subject, d.sent_at) for d in rows.select_related("send")]


def test_the_welcome_drip_sends_three_emails_at_now_plus_2_days_and_plus_5_days(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome()
    contacts = make_contacts(3)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in contacts])

    # Every minute for 5 simulated days would be 7,200 ticks; every hour is enough to see nothing early or late
    # at minute precision, plus the due instants themselves.
    moments = sorted({T0 + dt.timedelta(hours=h) for h in range(0, 5 * 24 + 2)})
    for moment in moments:
        clock.move_to(moment)
        tick(django_capture_on_commit_callbacks)

    for contact in contacts:
        assert _sent_at(contact) == [
            ("Welcome", T0),
            ("Day 2", T0 + dt.timedelta(days=2)),
            ("Day 5", T0 + dt.timedelta(days=5)),
        ]
    assert OutboxMessage.objects.count() == 9
    assert set(Enrollment.objects.values_list("status", flat=True)) == {E.COMPLETED}
    # One shared Send per step per tick, not one per contact.
    assert Delivery.objects.values("send").distinct().count() == 3


def test_a_contact_who_reaches_the_goal_between_steps_gets_no_further_email(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome(goal={"type": "event", "to_stage": "converted"})
    converts, stays = make_contacts(2)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[converts.pk, stays.pk])
    tick(django_capture_on_commit_callbacks)

    clock.move_to(T0 + dt.timedelta(days=1))
    FunnelEvent.objects.create(contact=converts, funnel_type="sales", to_stage="converted")
    clock.move_to(T0 + dt.timedelta(days=2))
    tick(django_capture_on_commit_callbacks)

    assert [s for s, _ in _sent_at(converts)] == ["Welcome"]
    assert [s for s, _ in _sent_at(stays)] == ["Welcome", "Day 2"]
    assert Enrollment.objects.get(contact=converts).status == E.EXITED_GOAL


def test_a_goal_event_from_before_entry_does_not_end_the_journey(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome(goal={"type": "event", "to_stage": "converted"})
    (contact,) = make_contacts(1)
    FunnelEvent.objects.create(
        contact=contact, funnel_type="sales", to_stage="converted", created_at=T0 - dt.timedelta(days=3)
    )
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)
    assert [s for s, _ in _sent_at(contact)] == ["Welcome"]


def test_a_contact_who_unsubscribes_between_steps_leaves_the_journey(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome()
    leaves, stays = make_contacts(2)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[leaves.pk, stays.pk])
    tick(django_capture_on_commit_callbacks)

    contact_unsubscribe(contact_id=leaves.pk)
    clock.move_to(T0 + dt.timedelta(days=2))
    tick(django_capture_on_commit_callbacks)

    assert [s for s, _ in _sent_at(leaves)] == ["Welcome"]
    assert [s for s, _ in _sent_at(stays)] == ["Welcome", "Day 2"]
    enrollment = Enrollment.objects.get(contact=leaves)
    assert (enrollment.status, enrollment.next_at) == (E.EXITED_UNSUBSCRIBED, None)


def _branch_journey(condition: dict) -> Journey:
    yes, no = make_template("Yes path"), make_template("No path")
    journey = journeys.journey_create(
        name="Branchy",
        trigger={"type": "api"},
        timezone="UTC",
        steps=[
            {"key": "b1", "type": "branch", "condition": condition, "yes": "s_yes", "no": "s_no"},
            {"key": "s_yes", "type": "send", "template": yes.pk, "next": "x1"},
            {"key": "s_no", "type": "send", "template": no.pk},
            {"key": "x1", "type": "exit"},
        ],
    )
    journeys.journey_activate(journey_id=journey.pk)
    return journey


def test_a_segment_branch_sends_members_down_yes_and_the_others_down_no(
    clock, django_capture_on_commit_callbacks
) -> None:
    member, other = make_contacts(2)
    segment = Segment.objects.create(name="VIP", type=Segment.Type.MANUAL)
    SegmentMember.objects.create(segment=segment, contact=member)
    journey = _branch_journey({"type": "segment", "segment": segment.pk})
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[member.pk, other.pk])
    tick(django_capture_on_commit_callbacks)

    assert [s for s, _ in _sent_at(member)] == ["Yes path"]
    assert [s for s, _ in _sent_at(other)] == ["No path"]
    outcomes = dict(EnrollmentStep.objects.filter(step_key="b1").values_list("enrollment__contact_id", "outcome"))
    assert outcomes == {member.pk: "yes", other.pk: "no"}
    assert set(Enrollment.objects.values_list("status", flat=True)) == {E.COMPLETED}


def test_an_event_branch_counts_only_events_since_entry(clock, django_capture_on_commit_callbacks) -> None:
    recent, old = make_contacts(2)
    FunnelEvent.objects.create(contact=old, funnel_type="sales", to_stage="trial", created_at=T0 - dt.timedelta(days=1))
    journey = _branch_journey({"type": "event", "to_stage": "trial"})
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[recent.pk, old.pk])
    FunnelEvent.objects.create(contact=recent, funnel_type="sales", to_stage="trial")
    tick(django_capture_on_commit_callbacks)

    assert [s for s, _ in _sent_at(recent)] == ["Yes path"]
    assert [s for s, _ in _sent_at(old)] == ["No path"]


def test_a_rules_branch_uses_the_segment_rules_json(clock, django_capture_on_commit_callbacks) -> None:
    a, b = make_contacts(2)
    rules = {"op": "and", "conditions": [{"field": "contact.first_name", "operator": "eq", "value": "F0"}]}
    journey = _branch_journey({"type": "rules", "rules": rules})
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[a.pk, b.pk])
    tick(django_capture_on_commit_callbacks)
    assert [s for s, _ in _sent_at(a)] == ["Yes path"]
    assert [s for s, _ in _sent_at(b)] == ["No path"]


def test_a_step_claimed_twice_sends_once(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    before = Enrollment.objects.get()
    tick(django_capture_on_commit_callbacks)

    # A stale copy of the claimed row written back (a crashed worker's state replayed): same step, same visit.
    Enrollment.objects.filter(pk=before.pk).update(
        step_key=before.step_key, visit=before.visit, step_ran=False, next_at=T0, status=E.ACTIVE
    )
    tick(django_capture_on_commit_callbacks)

    assert Delivery.objects.filter(contact=contact).count() == 1
    assert OutboxMessage.objects.count() == 1
    assert EnrollmentStep.objects.filter(step_key="s1").count() == 1


def test_the_tick_twice_at_the_same_instant_sends_once(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome()
    make_contacts(4)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=list(Contact.objects.values_list("id", flat=True)))
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)
    assert OutboxMessage.objects.count() == 4


def test_a_paused_journey_holds_its_enrollments_and_sends_late_once_on_resume(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)
    journeys.journey_pause(journey_id=journey.pk)
    clock.move_to(T0 + dt.timedelta(days=3))
    tick(django_capture_on_commit_callbacks)
    assert len(_sent_at(contact)) == 1

    journeys.journey_activate(journey_id=journey.pk)
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)
    assert [s for s, _ in _sent_at(contact)] == ["Welcome", "Day 2"]


def test_wait_until_waits_for_the_next_weekday_time_in_the_journey_zone(
    clock, django_capture_on_commit_callbacks
) -> None:
    t = make_template("Morning")
    journey = journeys.journey_create(
        name="Mornings",
        trigger={"type": "api"},
        timezone="Europe/Paris",
        steps=[
            {"key": "w", "type": "wait_until", "time": "09:00", "weekdays": [6]},
            {"key": "s", "type": "send", "template": t.pk},
        ],
    )
    journeys.journey_activate(journey_id=journey.pk)
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)
    # Monday 09:00 UTC -> Saturday 09:00 in Paris (UTC+1 in November) = 08:00 UTC.
    assert Enrollment.objects.get().next_at == dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC)


def test_a_cancelled_enrollment_gets_nothing_more(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)
    assert journeys.enrollment_cancel(enrollment_id=Enrollment.objects.get().pk)
    clock.move_to(T0 + dt.timedelta(days=6))
    tick(django_capture_on_commit_callbacks)
    assert len(_sent_at(contact)) == 1
