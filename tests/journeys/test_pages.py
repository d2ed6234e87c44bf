"""Journey pages: list, steps with counts, lifecycle buttons by role, the contact page's Journeys section, and the
demo's Welcome journey."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from automations import journeys
from automations.models import Enrollment, Journey
from tests.factories import user_with_role
from tests.journeys.conftest import make_contacts, tick, welcome

pytestmark = pytest.mark.django_db


def _client(role: str) -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client


def test_the_journey_page_draws_the_steps_with_waiting_and_sent_counts(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome()
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in make_contacts(2)])
    tick(django_capture_on_commit_callbacks)
    client = _client("Campaign Manager")
    assert "Welcome" in client.get("/journeys/").content.decode()
    page = client.get(f"/journeys/{journey.pk}/").content.decode()
    assert page.index('data-step="s1"') < page.index('data-step="w1"') < page.index('data-step="s3"')
    assert "2 sent" in page and "2 waiting" in page


def test_a_manager_pauses_and_a_viewer_cannot(clock) -> None:
    journey = welcome()
    assert _client("Viewer").post(f"/journeys/{journey.pk}/action/", {"action": "pause"}).status_code == 403
    response = _client("Campaign Manager").post(f"/journeys/{journey.pk}/action/", {"action": "pause"})
    assert response.status_code == 302
    assert Journey.objects.get().status == Journey.Status.PAUSED


def test_activating_a_bad_journey_from_the_page_shows_the_step(clock) -> None:
    journey = journeys.journey_create(name="Empty", trigger={"type": "api"}, steps=[{"key": "w", "type": "wait"}])
    response = _client("Admin").post(f"/journeys/{journey.pk}/action/", {"action": "activate"}, follow=True)
    assert "Step w: a wait must be more than 0 minutes." in response.content.decode()
    assert Journey.objects.get().status == Journey.Status.DRAFT


def test_the_contact_page_lists_the_contacts_journeys_and_cancels_one(clock) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    client = _client("Campaign Manager")
    page = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert 'id="contact-journeys"' in page and "Welcome" in page
    enrollment = Enrollment.objects.get()
    response = client.post(f"/journeys/enrollments/{enrollment.pk}/cancel/", {"next": f"/contacts/{contact.pk}/"})
    assert response["Location"] == f"/contacts/{contact.pk}/"
    assert Enrollment.objects.get().status == Enrollment.Status.CANCELLED


def test_a_manager_enrolls_a_contact_from_the_contact_page(clock) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    client = _client("Campaign Manager")
    page = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert 'id="contact-enroll"' in page and f'<option value="{journey.pk}">Welcome</option>' in page

    response = client.post(f"/journeys/contacts/{contact.pk}/enroll/", {"journey": journey.pk}, follow=True)

    assert response.redirect_chain == [(f"/contacts/{contact.pk}/", 302)]
    assert "Enrolled in “Welcome”" in response.content.decode()
    assert Enrollment.objects.get().contact_id == contact.pk


def test_enrolling_again_from_the_contact_page_says_why_not(clock) -> None:
    journey = welcome()  # re-entry: once ever
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])

    response = _client("Admin").post(f"/journeys/contacts/{contact.pk}/enroll/", {"journey": journey.pk}, follow=True)

    assert "Already enrolled once (re-entry: once)." in response.content.decode()
    assert Enrollment.objects.count() == 1


def test_a_viewer_cannot_enroll_from_the_contact_page(clock) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    client = _client("Viewer")
    assert 'id="contact-enroll"' not in client.get(f"/contacts/{contact.pk}/").content.decode()
    assert client.post(f"/journeys/contacts/{contact.pk}/enroll/", {"journey": journey.pk}).status_code == 403
    assert not Enrollment.objects.exists()


def test_seed_demo_journeys_creates_the_welcome_journey_as_a_draft_once() -> None:
    user_with_role("Admin").__class__.objects.create_user(username="admin")
    call_command("seed_demo_journeys")
    call_command("seed_demo_journeys")
    journey = Journey.objects.get()
    assert (journey.name, journey.status, journey.trigger) == ("Welcome", "draft", {"type": "contact_created"})
    assert [s["type"] for s in journeys.steps_to_json(journey)] == ["send", "wait", "send", "wait", "send"]
    assert not journeys.journey_activation_check(journey=journey).errors
