"""Re-entry policies (once / after_exit / never_while_active differ after a cancel) and what a resume does with
the sends that fell due during a pause (send late, or skip to the next wait)."""

from __future__ import annotations

import datetime as dt

import pytest

from automations import journeys
from automations.models import Enrollment, EnrollmentStep, Journey
from contacts.models import Contact
from delivery.models import Delivery
from tests.journeys.conftest import T0, make_contacts, tick, welcome

pytestmark = pytest.mark.django_db

E = Enrollment.Status
R = Journey.Reentry


def _enroll(journey: Journey, contact: Contact) -> str:
    return str(journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])[0]["status"])


@pytest.mark.parametrize("reentry", [R.ONCE, R.AFTER_EXIT, R.NEVER_WHILE_ACTIVE])
def test_no_policy_enrolls_a_contact_twice_while_it_is_active(clock, reentry) -> None:
    journey = welcome(reentry=reentry)
    (contact,) = make_contacts(1)
    assert _enroll(journey, contact) == "enrolled"
    assert _enroll(journey, contact) == "skipped"


@pytest.mark.parametrize(
    ("reentry", "ended", "again"),
    [
        (R.ONCE, E.COMPLETED, "skipped"),
        (R.ONCE, E.EXITED_GOAL, "skipped"),
        (R.AFTER_EXIT, E.COMPLETED, "enrolled"),
        (R.AFTER_EXIT, E.EXITED_GOAL, "enrolled"),
        (R.AFTER_EXIT, E.CANCELLED, "skipped"),
        (R.AFTER_EXIT, E.EXITED_UNSUBSCRIBED, "skipped"),
        (R.NEVER_WHILE_ACTIVE, E.COMPLETED, "enrolled"),
        (R.NEVER_WHILE_ACTIVE, E.CANCELLED, "enrolled"),
        (R.NEVER_WHILE_ACTIVE, E.EXITED_UNSUBSCRIBED, "enrolled"),
    ],
)
def test_reentry_after_the_previous_enrollment_ended_follows_the_policy(clock, reentry, ended, again) -> None:
    journey = welcome(reentry=reentry)
    (contact,) = make_contacts(1)
    _enroll(journey, contact)
    Enrollment.objects.update(status=ended, finished_at=T0)
    assert _enroll(journey, contact) == again


def test_after_exit_keeps_out_a_contact_whose_enrollment_was_cancelled_and_never_while_active_lets_it_in(
    clock,
) -> None:
    strict, loose = welcome(reentry=R.AFTER_EXIT), welcome(reentry=R.NEVER_WHILE_ACTIVE)
    (contact,) = make_contacts(1)
    for journey in (strict, loose):
        _enroll(journey, contact)
        journeys.enrollment_cancel(enrollment_id=Enrollment.objects.get(journey=journey).pk)
    assert (_enroll(strict, contact), _enroll(loose, contact)) == ("skipped", "enrolled")


def _subjects(contact: Contact) -> list[str]:
    rows = Delivery.objects.filter(contact=contact, status=Delivery.Status.SENT).order_by("sent_at", "id")
    return [d.send.subject for d in rows.select_related("send")]


def test_resume_with_skip_to_wait_skips_the_send_that_fell_due_and_waits_from_the_resume(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome(resume_mode=Journey.ResumeMode.SKIP_TO_WAIT)
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)  # Welcome, then waits 2 days
    journeys.journey_pause(journey_id=journey.pk)
    clock.move_to(T0 + dt.timedelta(days=3))  # "Day 2" fell due during the pause
    journeys.journey_activate(journey_id=journey.pk)
    tick(django_capture_on_commit_callbacks)
    assert _subjects(contact) == ["Welcome"]
    skipped = EnrollmentStep.objects.get(step_key="s2")
    assert skipped.outcome == EnrollmentStep.Outcome.SUPPRESSED and "paused" in skipped.detail
    assert Enrollment.objects.get().next_at == T0 + dt.timedelta(days=6)  # w2 counts from the resume

    clock.move_to(T0 + dt.timedelta(days=6))
    tick(django_capture_on_commit_callbacks)
    assert _subjects(contact) == ["Welcome", "Day 5"]


def test_resume_with_skip_to_wait_sends_what_falls_due_after_the_resume(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome(resume_mode=Journey.ResumeMode.SKIP_TO_WAIT)
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)
    clock.move_to(T0 + dt.timedelta(hours=1))
    journeys.journey_pause(journey_id=journey.pk)
    clock.move_to(T0 + dt.timedelta(hours=2))
    journeys.journey_activate(journey_id=journey.pk)  # a short pause: nothing fell due in it
    clock.move_to(T0 + dt.timedelta(days=2))
    tick(django_capture_on_commit_callbacks)
    assert _subjects(contact) == ["Welcome", "Day 2"]


def test_resume_with_send_late_sends_what_fell_due_once(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome(resume_mode=Journey.ResumeMode.SEND_LATE)
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)
    journeys.journey_pause(journey_id=journey.pk)
    clock.move_to(T0 + dt.timedelta(days=3))
    journeys.journey_activate(journey_id=journey.pk)
    tick(django_capture_on_commit_callbacks)
    tick(django_capture_on_commit_callbacks)
    assert _subjects(contact) == ["Welcome", "Day 2"]


def test_a_contact_enrolled_during_the_pause_gets_its_first_email_on_resume_even_with_skip(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome(resume_mode=Journey.ResumeMode.SKIP_TO_WAIT)
    journeys.journey_pause(journey_id=journey.pk)
    (contact,) = make_contacts(1)
    clock.move_to(T0 + dt.timedelta(hours=1))
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    clock.move_to(T0 + dt.timedelta(hours=2))
    journeys.journey_activate(journey_id=journey.pk)
    tick(django_capture_on_commit_callbacks)
    assert _subjects(contact) == ["Welcome"]


def test_an_unknown_resume_mode_is_refused(clock) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        welcome(resume_mode="later")
