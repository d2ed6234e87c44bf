"""The simulator: what would happen to a contact, sending nothing, through the engine's own walk; and the engine
then doing exactly that for the same contacts under a controlled clock."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from automations import journeys
from automations.models import Enrollment, EnrollmentStep, Journey, JourneySegmentMember
from contacts.models import Contact, FunnelEvent
from delivery.models import Delivery, Send
from segments.models import Segment, SegmentMember
from tests.factories import user_with_role
from tests.journeys.conftest import T0, make_contacts, make_template, tick, welcome

pytestmark = pytest.mark.django_db

E = Enrollment.Status


def _branch_journey(segment: Segment) -> Journey:
    """Welcome now; after a day, members of `segment` get "VIP" and the others "Regular" then wait until Monday
    10:00 for "Last"; a goal event ends it."""
    t1, vip, regular, last = (make_template(s) for s in ("Welcome", "VIP", "Regular", "Last"))
    journey = journeys.journey_create(
        name="Branchy",
        trigger={"type": "api"},
        goal={"type": "event", "to_stage": "converted"},
        timezone="Europe/Paris",
        steps=[
            {"key": "s1", "type": "send", "template": t1.pk},
            {"key": "w1", "type": "wait", "minutes": 1440},
            {"key": "b1", "type": "branch", "condition": {"type": "segment", "segment": segment.pk}, "yes": "s2"}
            | {"no": "s3"},
            {"key": "s2", "type": "send", "template": vip.pk, "next": "x1"},
            {"key": "s3", "type": "send", "template": regular.pk},
            {"key": "w2", "type": "wait_until", "time": "10:00", "weekdays": [1]},
            {"key": "s4", "type": "send", "template": last.pk},
            {"key": "x1", "type": "exit"},
        ],
    )
    journeys.journey_activate(journey_id=journey.pk)
    return journey


def _timeline(sim: journeys.Simulation) -> list[tuple[dt.datetime, str, str]]:
    return [(s.at, s.step_key, s.outcome) for s in sim.timeline if s.outcome != "check"]


def _engine_history(journey: Journey, contact: Contact) -> list[tuple[dt.datetime, str, str]]:
    rows = EnrollmentStep.objects.filter(enrollment__journey=journey, enrollment__contact=contact)
    return [(r.ran_at, r.step_key, r.outcome) for r in rows.order_by("ran_at", "visit", "id")]


def test_the_simulator_agrees_with_what_the_engine_then_does_for_the_same_contacts(
    clock, django_capture_on_commit_callbacks
) -> None:
    vip, regular = make_contacts(2)
    segment = Segment.objects.create(name="VIP", type=Segment.Type.MANUAL)
    SegmentMember.objects.create(segment=segment, contact=vip)
    journey = _branch_journey(segment)

    sims = journeys.journey_simulate(journey_id=journey.pk, contact_ids=[vip.pk, regular.pk])
    assert not Enrollment.objects.exists() and not Send.objects.exists() and not EnrollmentStep.objects.exists()

    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[vip.pk, regular.pk])
    # The engine runs at every moment the simulator said something happens (plus the hours between).
    moments = sorted({s.at for sim in sims for s in sim.timeline} | {T0 + dt.timedelta(hours=h) for h in range(200)})
    for moment in moments:
        clock.move_to(moment)
        tick(django_capture_on_commit_callbacks)

    by_contact = {sim.contact_id: sim for sim in sims}
    for contact in (vip, regular):
        assert _timeline(by_contact[contact.pk]) == _engine_history(journey, contact)
        enrollment = Enrollment.objects.get(contact=contact)
        assert (by_contact[contact.pk].end_status, by_contact[contact.pk].end_at) == (
            enrollment.status,
            enrollment.finished_at,
        )
    assert [s.step_key for s in by_contact[vip.pk].timeline if s.outcome == "sent"] == ["s1", "s2"]
    assert [s.step_key for s in by_contact[regular.pk].timeline if s.outcome == "sent"] == ["s1", "s3", "s4"]
    assert Delivery.objects.filter(contact=regular).count() == 3


def test_the_simulator_says_which_branch_and_why(clock) -> None:
    vip, regular = make_contacts(2)
    segment = Segment.objects.create(name="VIP", type=Segment.Type.MANUAL)
    SegmentMember.objects.create(segment=segment, contact=vip)
    journey = _branch_journey(segment)
    sims = journeys.journey_simulate(journey_id=journey.pk, contact_ids=[vip.pk, regular.pk])
    branches = {sim.contact_id: next(s for s in sim.timeline if s.step_key == "b1") for sim in sims}
    assert (branches[vip.pk].outcome, branches[vip.pk].detail) == ("yes", "meets: member of segment “VIP”")
    assert branches[regular.pk].outcome == "no" and branches[regular.pk].detail.startswith("does not meet")
    assert branches[vip.pk].at == T0 + dt.timedelta(days=1)


def test_the_simulator_shows_where_the_goal_or_an_unsubscribe_would_stop_the_contact(clock) -> None:
    journey = welcome(goal={"type": "event", "to_stage": "converted"})
    (contact,) = make_contacts(1)
    (sim,) = journeys.journey_simulate(journey_id=journey.pk, contact_ids=[contact.pk])
    checks = [s for s in sim.timeline if s.outcome == "check"]
    assert [c.at for c in checks] == [T0, T0 + dt.timedelta(days=2), T0 + dt.timedelta(days=5)]
    assert "an event to stage “converted” or an unsubscribe" in checks[1].detail
    assert sim.emails == 3 and sim.end_status == E.COMPLETED


def test_a_contact_who_already_reached_the_goal_is_shown_leaving_at_its_next_step(clock) -> None:
    journey = welcome(goal={"type": "event", "to_stage": "converted"})
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    FunnelEvent.objects.create(contact=contact, funnel_type="sales", from_stage="lead", to_stage="converted")
    (sim,) = journeys.journey_simulate(journey_id=journey.pk, contact_ids=[contact.pk])
    assert sim.already_in and sim.end_status == E.EXITED_GOAL and sim.emails == 0
    assert Enrollment.objects.get().status == E.ACTIVE  # rolled back


def test_the_simulator_says_why_a_contact_would_not_enter(clock) -> None:
    journey = welcome()
    a, b = make_contacts(2)
    Contact.objects.filter(pk=a.pk).update(status=Contact.Status.UNSUBSCRIBED)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[b.pk])
    Enrollment.objects.update(status=E.COMPLETED)
    sims = {s.contact_id: s for s in journeys.journey_simulate(journey_id=journey.pk, contact_ids=[a.pk, b.pk])}
    assert not sims[a.pk].entered and "unsubscribed" in sims[a.pk].reason
    assert not sims[b.pk].entered and "once" in sims[b.pk].reason


def test_the_next_who_would_enter_a_segment_journey_are_its_members_not_seen_yet(clock) -> None:
    a, b, c = make_contacts(3)
    segment = Segment.objects.create(name="S", type=Segment.Type.MANUAL)
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=x) for x in (a, b)])
    journey = welcome(trigger={"type": "segment", "segment": segment.pk})
    journeys.journey_segment_check(journey_id=journey.pk)
    SegmentMember.objects.create(segment=segment, contact=c)
    assert journeys.simulation_candidates(journey=journey) == [c.pk]
    assert JourneySegmentMember.objects.count() == 2


def _viewer() -> Client:
    client = Client()
    client.force_login(user_with_role("Viewer"))
    return client


def test_the_simulate_page_shows_a_contacts_steps_to_a_viewer_and_keeps_nothing(clock) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    url = reverse("automations:journey_simulate", args=[journey.pk])
    page = _viewer().get(url, {"contact": contact.email.upper()}).content.decode()
    assert page.count("(would be sent)") == 3 and "Wed 2026-11-25 09:00" in page
    assert not Enrollment.objects.exists() and not Send.objects.exists()


def test_the_simulate_page_names_an_unknown_contact(clock) -> None:
    journey = welcome()
    url = reverse("automations:journey_simulate", args=[journey.pk])
    assert "No contact with this email or id." in _viewer().get(url, {"contact": "nobody@x.org"}).content.decode()


def test_the_simulate_page_runs_the_next_20_who_would_enter(clock) -> None:
    journey = welcome()
    make_contacts(25)
    url = reverse("automations:journey_simulate", args=[journey.pk])
    assert _viewer().get(url, {"next": "on"}).content.decode().count('class="card mb-3 simulation"') == 20


def test_the_journey_page_links_to_the_simulator(clock) -> None:
    journey = welcome()
    page = _viewer().get(reverse("journeys:detail", args=[journey.pk])).content.decode()
    assert reverse("automations:journey_simulate", args=[journey.pk]) in page
