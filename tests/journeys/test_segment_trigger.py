"""The segment-entry trigger: a contact enters the journey when it enters the segment (checked set-based after
contact writes and on a schedule); leaving the segment and coming back is a new entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import override_settings

from automations import journeys
from automations.models import Enrollment, Journey, JourneySegmentMember
from contacts.models import Contact
from segments.models import Segment, SegmentMember
from tests.journeys.conftest import T0, make_contacts, welcome

pytestmark = pytest.mark.django_db

E = Enrollment.Status


def _segment(*contacts: Contact) -> Segment:
    segment = Segment.objects.create(name="VIP", type=Segment.Type.MANUAL)
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=c) for c in contacts])
    return segment


def _journey(segment: Segment, **trigger: Any) -> Journey:
    return welcome(trigger={"type": "segment", "segment": segment.pk, **trigger}, reentry=Journey.Reentry.AFTER_EXIT)


def _check(journey: Journey) -> int:
    return journeys.journey_segment_check(journey_id=journey.pk)


def _enrolled(journey: Journey) -> set[int]:
    return set(Enrollment.objects.filter(journey=journey).values_list("contact_id", flat=True))


def test_a_segment_journey_can_be_activated(clock) -> None:
    (a,) = make_contacts(1)
    assert _journey(_segment(a)).status == Journey.Status.ACTIVE


def test_the_first_check_remembers_the_members_already_there_without_enrolling_them(clock) -> None:
    a, b = make_contacts(2)
    journey = _journey(_segment(a, b))
    assert _check(journey) == 0
    assert JourneySegmentMember.objects.filter(journey=journey).count() == 2
    assert not _enrolled(journey)


def test_with_existing_true_the_members_already_there_enter_at_the_first_check(clock) -> None:
    a, b = make_contacts(2)
    journey = _journey(_segment(a, b), existing=True)
    assert _check(journey) == 2
    assert _enrolled(journey) == {a.pk, b.pk}


def test_a_contact_who_enters_the_segment_after_the_first_check_enrolls_once(clock) -> None:
    a, b = make_contacts(2)
    segment = _segment(a)
    journey = _journey(segment)
    _check(journey)
    SegmentMember.objects.create(segment=segment, contact=b)
    assert _check(journey) == 1
    assert _check(journey) == 0
    enrollment = Enrollment.objects.get(journey=journey)
    assert enrollment.contact_id == b.pk and enrollment.trigger_key.startswith("segment:")


def test_an_unsubscribed_contact_entering_the_segment_does_not_enroll(clock) -> None:
    a, b = make_contacts(2)
    segment = _segment(a)
    journey = _journey(segment)
    _check(journey)
    Contact.objects.filter(pk=b.pk).update(status=Contact.Status.UNSUBSCRIBED)
    SegmentMember.objects.create(segment=segment, contact=b)
    assert _check(journey) == 0


def test_leaving_the_segment_and_coming_back_is_a_new_entry(clock) -> None:
    a, b = make_contacts(2)
    segment = _segment(a)
    journey = _journey(segment)
    _check(journey)
    SegmentMember.objects.create(segment=segment, contact=b)
    _check(journey)
    Enrollment.objects.filter(journey=journey).update(status=E.COMPLETED, finished_at=T0)
    assert _check(journey) == 0  # still in the segment: not a new entry
    SegmentMember.objects.filter(segment=segment, contact=b).delete()
    _check(journey)
    SegmentMember.objects.create(segment=segment, contact=b)
    assert _check(journey) == 1
    assert Enrollment.objects.filter(journey=journey, contact=b).count() == 2


def test_a_rules_segment_is_checked_set_based_on_the_rules(clock) -> None:
    a, b = make_contacts(2)
    segment = Segment.objects.create(
        name="Gmail",
        type=Segment.Type.RULES,
        rules={"op": "and", "conditions": [{"field": "contact.first_name", "operator": "eq", "value": "Ann"}]},
    )
    journey = _journey(segment)
    _check(journey)
    Contact.objects.filter(pk=a.pk).update(first_name="Ann")
    Contact.objects.filter(pk=b.pk).update(first_name="Bob")
    _check(journey)
    assert _enrolled(journey) == {a.pk}


@override_settings(JOURNEY_SEGMENT_CHECK_SECONDS=300)
def test_the_tick_enqueues_a_check_once_per_interval(clock) -> None:
    (a,) = make_contacts(1)
    _journey(_segment(a))
    assert journeys.journeys_segment_tick()["journey_segment_checks"] == 1
    clock.move_to(T0 + dt.timedelta(seconds=60))
    assert journeys.journeys_segment_tick()["journey_segment_checks"] == 0
    clock.move_to(T0 + dt.timedelta(seconds=301))
    assert journeys.journeys_segment_tick()["journey_segment_checks"] == 1


def test_a_contact_write_enqueues_a_check_of_segment_journeys(clock, django_capture_on_commit_callbacks) -> None:
    from contacts import services as contact_services

    (a,) = make_contacts(1)
    journey = _journey(_segment(a))
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_create(email="new@example.com")
    journey.refresh_from_db()
    assert journey.segment_checked_at == T0


def test_the_check_task_run_twice_enrolls_each_entry_once(clock) -> None:
    from automations.tasks import journey_segment_check_task

    a, b = make_contacts(2)
    segment = _segment(a)
    journey = _journey(segment)
    journey_segment_check_task(journey.pk)
    SegmentMember.objects.create(segment=segment, contact=b)
    journey_segment_check_task(journey.pk)
    journey_segment_check_task(journey.pk)
    assert Enrollment.objects.filter(journey=journey).count() == 1


def test_changing_the_trigger_segment_forgets_the_remembered_members(clock) -> None:
    a, b = make_contacts(2)
    journey = _journey(_segment(a))
    _check(journey)
    other = _segment(b)
    journeys.journey_update(journey=journey, trigger={"type": "segment", "segment": other.pk})
    assert not JourneySegmentMember.objects.filter(journey=journey).exists()
    assert _check(journey) == 0  # a first check again: b was already in the new segment
