"""The journey page's figures: per-step counts against a hand count, the report (conversion, time to goal), the
funnel, the polled fragment, the enrollments list and cancel, the journeys list and the contact page's history."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from automations import journey_selectors as selectors
from automations import journeys
from automations.journey_models import Enrollment, EnrollmentStep, Journey
from contacts.models import Contact
from delivery.models import Delivery
from tests.factories import user_with_role
from tests.journeys.conftest import T0, make_contacts, tick, welcome

pytestmark = pytest.mark.django_db

E = Enrollment.Status


def _client(role: str = "Campaign Manager") -> Client:
    client = Client()
    client.force_login(user_with_role(role))
    return client


def _five_sent_on_s1(capture) -> Journey:  # type: ignore[no-untyped-def]
    """5 contacts through s1 (sent by the outbox transport), then by hand: 1 failed, 3 opened, 2 clicked."""
    journey = welcome()
    contacts = make_contacts(5)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in contacts])
    tick(capture)
    rows = list(Delivery.objects.order_by("id"))
    Delivery.objects.filter(pk=rows[0].pk).update(status=Delivery.Status.FAILED)
    Delivery.objects.filter(pk__in=[r.pk for r in rows[1:4]]).update(opened_at=T0)
    Delivery.objects.filter(pk__in=[r.pk for r in rows[1:3]]).update(clicked_at=T0)
    return journey


def test_the_step_counts_equal_a_hand_count(clock, django_capture_on_commit_callbacks) -> None:
    journey = _five_sent_on_s1(django_capture_on_commit_callbacks)
    by_key = {r.step.key: r for r in selectors.journey_step_rows(journey=journey)}
    s1 = by_key["s1"]
    assert (s1.reached, s1.sent, s1.failed, s1.opened, s1.clicked) == (5, 4, 1, 3, 2)
    assert (by_key["w1"].waiting, by_key["w1"].reached) == (5, 5)
    assert (by_key["s2"].reached, by_key["s2"].sent, by_key["s2"].waiting) == (0, 0, 0)


def test_the_journey_page_shows_the_counts_on_each_step(clock, django_capture_on_commit_callbacks) -> None:
    journey = _five_sent_on_s1(django_capture_on_commit_callbacks)
    page = _client("Viewer").get(f"/journeys/{journey.pk}/").content.decode()
    s1 = page[page.index('id="step-s1"') : page.index('id="step-w1"')]
    for text in ("4 sent", "1 failed", "3 opened · 75%", "2 clicked · 50%", "0 waiting"):
        assert text in s1
    assert "5 waiting" in page[page.index('id="step-w1"') : page.index('id="step-s2"')]


def _enrollment(journey: Journey, contact: Contact, status: str, hours: float | None = None) -> Enrollment:
    finished = T0 + dt.timedelta(hours=hours) if hours is not None else None
    return Enrollment.objects.create(
        journey=journey, contact=contact, status=status, entered_at=T0, finished_at=finished, step_key="s1"
    )


def test_the_report_counts_each_outcome_the_conversion_rate_and_the_time_to_goal(clock) -> None:
    journey = welcome(goal={"type": "event", "to_stage": "paid"})
    contacts = make_contacts(10)
    for contact, hours in zip(contacts[:5], (1, 2, 3, 4, 10), strict=True):
        _enrollment(journey, contact, E.EXITED_GOAL, hours)
    _enrollment(journey, contacts[5], E.ACTIVE)
    _enrollment(journey, contacts[6], E.COMPLETED, 1)
    _enrollment(journey, contacts[7], E.EXITED_UNSUBSCRIBED, 1)
    _enrollment(journey, contacts[8], E.CANCELLED, 1)
    _enrollment(journey, contacts[9], E.FAILED, 1)
    report = selectors.journey_report(journey=journey)
    assert (report.enrolled, report.active, report.completed, report.exited_goal) == (10, 1, 1, 5)
    assert (report.exited_unsubscribed, report.cancelled, report.failed) == (1, 1, 1)
    assert report.conversion_rate == 0.5
    assert report.time_to_goal_median == dt.timedelta(hours=3)
    # percentile_cont: 4 h + 0.6 x (10 h - 4 h)
    assert report.time_to_goal_p90 == dt.timedelta(hours=7.6)


def test_the_page_shows_the_conversion_rate_and_the_median_time_to_goal(clock) -> None:
    journey = welcome(goal={"type": "event", "to_stage": "paid"})
    a, b, c, d = make_contacts(4)
    _enrollment(journey, a, E.EXITED_GOAL, 2)
    _enrollment(journey, b, E.EXITED_GOAL, 4)
    _enrollment(journey, c, E.ACTIVE)
    _enrollment(journey, d, E.COMPLETED, 1)
    page = _client().get(f"/journeys/{journey.pk}/").content.decode()
    assert 'data-stat="conversion" title="exited by goal / enrolled">50.0%' in page
    assert "median 3 h 0 min" in page


def test_the_funnel_draws_enrolled_each_step_reached_and_the_goal(clock) -> None:
    journey = welcome(goal={"type": "event", "to_stage": "paid"})
    a, b = make_contacts(2)
    first = _enrollment(journey, a, E.EXITED_GOAL, 1)
    _enrollment(journey, b, E.ACTIVE)
    EnrollmentStep.objects.create(enrollment=first, step_key="s1", visit=1, ran_at=T0, outcome="sent")
    report = selectors.journey_report(journey=journey)
    bars = selectors.journey_funnel(
        report=report, rows=selectors.journey_step_rows(journey=journey), goal=bool(journey.goal)
    )
    assert [(bar.label, bar.n) for bar in bars] == [
        ("Enrolled", 2),
        ("s1 · Send", 1),
        ("w1 · Wait", 0),
        ("s2 · Send", 0),
        ("w2 · Wait", 0),
        ("s3 · Send", 0),
        ("Goal reached", 1),
    ]
    assert bars[1].percent == 50.0
    page = _client().get(f"/journeys/{journey.pk}/").content.decode()
    assert 'id="journey-funnel-svg"' in page and "<text" in page


def test_an_active_journey_polls_its_live_fragment_and_a_paused_one_does_not(clock) -> None:
    journey = welcome()
    client = _client()
    assert f'hx-get="/journeys/{journey.pk}/live/"' in client.get(f"/journeys/{journey.pk}/").content.decode()
    fragment = client.get(f"/journeys/{journey.pk}/live/").content.decode()
    assert 'id="journey-live"' in fragment and "<nav" not in fragment
    journeys.journey_pause(journey_id=journey.pk)
    assert "hx-get" not in client.get(f"/journeys/{journey.pk}/live/").content.decode()


def test_the_enrollments_list_filters_by_status(clock) -> None:
    journey = welcome()
    a, b = make_contacts(2)
    _enrollment(journey, a, E.ACTIVE)
    _enrollment(journey, b, E.CANCELLED, 1)
    page = _client().get(f"/journeys/{journey.pk}/?status=cancelled").content.decode()
    table = page[page.index('id="journey-enrollments"') :]
    assert "c1@example.com" in table and "c0@example.com" not in table


def test_cancelling_from_the_journey_page_returns_to_it(clock) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    enrollment = _enrollment(journey, contact, E.ACTIVE)
    back = f"/journeys/{journey.pk}/?status=active"
    response = _client().post(f"/journeys/enrollments/{enrollment.pk}/cancel/", {"next": back})
    assert response["Location"] == back
    assert Enrollment.objects.get().status == E.CANCELLED


def test_a_viewer_sees_no_cancel_button_and_cannot_cancel(clock) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    enrollment = _enrollment(journey, contact, E.ACTIVE)
    viewer = _client("Viewer")
    assert ">Cancel</button>" not in viewer.get(f"/journeys/{journey.pk}/").content.decode()
    assert viewer.post(f"/journeys/enrollments/{enrollment.pk}/cancel/").status_code == 403
    assert Enrollment.objects.get().status == E.ACTIVE


def test_the_contact_page_lists_the_step_history_with_the_email_delivery(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome()
    (contact,) = make_contacts(1)
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[contact.pk])
    tick(django_capture_on_commit_callbacks)
    Delivery.objects.update(opened_at=T0)
    page = _client().get(f"/contacts/{contact.pk}/").content.decode()
    block = page[page.index('id="contact-journeys"') :]
    assert "<code>s1</code> handed to the engine" in block
    assert "· email" in block and ">sent</a>" in block and "· opened" in block
    assert "<code>w1</code> waiting" in block
    assert ">Cancel</button>" in block


def test_the_list_searches_filters_by_status_and_counts_active_enrollments(clock) -> None:
    journey = welcome()
    journeys.journey_create(name="Winback", trigger={"type": "api"}, timezone="UTC")
    a, b, c = make_contacts(3)
    _enrollment(journey, a, E.ACTIVE)
    _enrollment(journey, b, E.ACTIVE)
    _enrollment(journey, c, E.COMPLETED, 1)
    client = _client()
    page = client.get("/journeys/").content.decode()
    assert f'data-active="{journey.pk}">2<' in page and "Winback" in page
    assert "Winback" not in client.get("/journeys/?search=welc").content.decode()
    drafts = client.get("/journeys/?status=draft").content.decode()
    assert "Winback" in drafts and f'href="/journeys/{journey.pk}/"' not in drafts


def test_a_large_journeys_step_counts_are_kept_until_an_edit_and_its_status_counts_stay_fresh(clock, settings) -> None:
    settings.JOURNEY_FIGURES_CACHE_FROM = 1
    settings.JOURNEY_FIGURES_CACHE_SECONDS = 30
    journey = welcome()
    a, b = make_contacts(2)
    first = _enrollment(journey, a, E.ACTIVE)
    EnrollmentStep.objects.create(enrollment=first, step_key="s1", visit=1, ran_at=T0, outcome="sent")
    assert selectors.journey_figures(journey=journey).rows[0].reached == 1
    second = _enrollment(journey, b, E.ACTIVE)
    EnrollmentStep.objects.create(enrollment=second, step_key="s1", visit=1, ran_at=T0, outcome="sent")
    kept = selectors.journey_figures(journey=journey)
    assert (kept.cached, kept.rows[0].reached, kept.report.active) == (True, 1, 2)
    clock.shift(dt.timedelta(minutes=1))
    journeys.journey_update(journey=journey, name="Welcome again")  # an edit starts afresh
    assert selectors.journey_figures(journey=Journey.objects.get()).rows[0].reached == 2


def test_the_journey_page_links_the_simulator(clock) -> None:
    journey = welcome()
    page = _client("Viewer").get(f"/journeys/{journey.pk}/").content.decode()
    assert f'href="/automations/journeys/{journey.pk}/simulate/">Simulate</a>' in page
