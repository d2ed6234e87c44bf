"""Triggers: contacts tells journeys about new contacts, funnel events and batch members through
CONTACT_EVENT_HOOKS after commit, from every path; each triggering row enrolls once; re-entry rules."""

from __future__ import annotations

import pytest

from automations import journeys
from automations.models import Enrollment, Journey
from contacts import services as contact_services
from contacts.models import Batch, BatchMember, Contact, FunnelEvent
from tests.journeys.conftest import make_contacts, tick, welcome

pytestmark = pytest.mark.django_db

E = Enrollment.Status


def test_a_contact_created_enrolls_into_a_contact_created_journey(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome(trigger={"type": "contact_created"})
    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_services.contact_create(email="new@example.com")
    enrollment = Enrollment.objects.get()
    assert (enrollment.journey_id, enrollment.contact_id, enrollment.trigger_key) == (
        journey.pk,
        contact.pk,
        f"contact:{contact.pk}",
    )
    tick(django_capture_on_commit_callbacks)
    assert Enrollment.objects.get().step_key == "w1"


def test_contacts_upserted_through_the_api_path_enroll_once_each(clock, django_capture_on_commit_callbacks) -> None:
    welcome(trigger={"type": "contact_created"})
    items = [{"email": f"x{i}@example.com"} for i in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contacts_bulk_upsert(items=items)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contacts_bulk_upsert(items=items)  # updates: no new contact, no new enrollment
    assert Enrollment.objects.count() == 3


def test_a_funnel_event_to_the_trigger_stage_enrolls_and_other_stages_do_not(
    clock, django_capture_on_commit_callbacks
) -> None:
    welcome(trigger={"type": "event", "to_stage": "signed_up"})
    a, b = make_contacts(2)
    with django_capture_on_commit_callbacks(execute=True):
        results = contact_services.funnel_events_create(
            items=[{"contact_id": a.pk, "to_stage": "signed_up"}, {"contact_id": b.pk, "to_stage": "lead"}]
        )
    assert [r["status"] for r in results] == ["created", "created"]
    assert list(Enrollment.objects.values_list("contact_id", flat=True)) == [a.pk]


def test_a_hook_that_sees_the_same_rows_twice_enrolls_once(clock) -> None:
    journey = welcome(trigger={"type": "event", "to_stage": "signed_up"}, reentry=Journey.Reentry.AFTER_EXIT)
    (a,) = make_contacts(1)
    FunnelEvent.objects.create(contact=a, funnel_type="sales", to_stage="signed_up")
    assert journeys.journeys_on_new_rows(after={"funnel_event": 0}) == 1
    Enrollment.objects.update(status=E.COMPLETED)
    assert journeys.journeys_on_new_rows(after={"funnel_event": 0}) == 0
    assert Enrollment.objects.filter(journey=journey).count() == 1


def test_a_contact_added_to_the_trigger_batch_enrolls(clock, django_capture_on_commit_callbacks) -> None:
    batch = Batch.objects.create(name="Leads")
    other = Batch.objects.create(name="Other")
    welcome(trigger={"type": "batch", "batch": batch.pk})
    a, b = make_contacts(2)
    BatchMember.objects.create(batch=batch, contact=a)
    BatchMember.objects.create(batch=other, contact=b)
    journeys.journeys_on_new_rows(after={"batch_member": 0})
    assert list(Enrollment.objects.values_list("contact_id", flat=True)) == [a.pk]


def test_a_draft_journey_enrolls_nobody(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome(trigger={"type": "contact_created"})
    Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        contact_services.contact_create(email="new@example.com")
    assert not Enrollment.objects.exists()


def test_reentry_once_refuses_a_second_enrollment_after_the_first_ended(clock) -> None:
    journey = welcome()
    (a,) = make_contacts(1)
    assert journeys.journey_enroll(journey_id=journey.pk, contact_ids=[a.pk])[0]["status"] == "enrolled"
    Enrollment.objects.update(status=E.COMPLETED)
    result = journeys.journey_enroll(journey_id=journey.pk, contact_ids=[a.pk])[0]
    assert result["status"] == "skipped" and "once" in result["error"]


def test_reentry_after_exit_allows_again_after_leaving_but_not_while_active(clock) -> None:
    journey = welcome(reentry=Journey.Reentry.AFTER_EXIT)
    (a,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[a.pk])
    assert journeys.journey_enroll(journey_id=journey.pk, contact_ids=[a.pk])[0]["status"] == "skipped"
    Enrollment.objects.update(status=E.EXITED_GOAL)
    assert journeys.journey_enroll(journey_id=journey.pk, contact_ids=[a.pk])[0]["status"] == "enrolled"
    assert Enrollment.objects.count() == 2


def test_enrolling_by_email_gives_a_per_item_error_for_an_unknown_email_and_enrolls_the_rest(clock) -> None:
    journey = welcome()
    a, b = make_contacts(2)
    Contact.objects.filter(pk=b.pk).update(status=Contact.Status.UNSUBSCRIBED)
    results = journeys.journey_enroll(journey_id=journey.pk, emails=["C0@example.com", "nobody@example.com", b.email])
    assert [(r["status"], r.get("error")) for r in results] == [
        ("enrolled", None),
        ("error", "No contact with this email."),
        ("skipped", "The contact is unsubscribed."),
    ]
    assert list(Enrollment.objects.values_list("contact_id", flat=True)) == [a.pk]
