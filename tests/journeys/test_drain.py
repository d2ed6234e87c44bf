"""A backlog of due enrollments (a million due in the same minute) leaves the tick's path: the tick does what its
budget allows and hands the rest to a drain task, which claims batches with SKIP LOCKED."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import override_settings

from automations import journeys
from automations.journey_engine import _drain_key
from automations.models import Enrollment, EnrollmentStep
from tests.journeys.conftest import make_contacts, welcome

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _free_slots() -> Iterator[None]:
    # After the test too: a slot left held in the shared cache stops a real drain (a benchmark's) for its timeout.
    cache.delete_many([_drain_key(0), _drain_key(1)])
    yield
    cache.delete_many([_drain_key(0), _drain_key(1)])


@override_settings(JOURNEY_TICK_BATCH=2, JOURNEY_TICK_BUDGET_SECONDS=0, JOURNEY_DRAIN_TASKS=1)
def test_a_tick_out_of_budget_hands_the_backlog_to_one_drain_task(clock, django_capture_on_commit_callbacks) -> None:
    journey = welcome()
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in make_contacts(7)])
    with django_capture_on_commit_callbacks(execute=False):
        assert journeys.journeys_tick()["journey_enrollments"] == 2
    assert cache.get(_drain_key(0)) == 1
    assert journeys.journeys_tick()["journey_enrollments"] == 2  # the next tick does its share, kicks nobody more


@override_settings(JOURNEY_DRAIN_BATCH=3)
def test_the_drain_advances_every_due_enrollment_once_and_frees_its_slot(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome()
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in make_contacts(7)])
    cache.add(_drain_key(0), 1)
    with django_capture_on_commit_callbacks(execute=False):
        assert journeys.journeys_drain(slot=0) == 7
    assert EnrollmentStep.objects.filter(step_key="s1", outcome="sent").count() == 7
    assert set(Enrollment.objects.values_list("step_key", flat=True)) == {"w1"}
    assert cache.get(_drain_key(0)) is None


@override_settings(JOURNEY_TICK_BATCH=2, JOURNEY_TICK_BUDGET_SECONDS=60, JOURNEY_DRAIN_TASKS=2)
def test_while_a_drain_holds_the_backlog_the_tick_takes_one_batch_at_most(
    clock, django_capture_on_commit_callbacks
) -> None:
    journey = welcome()
    journeys.journey_enroll(journey_id=journey.pk, contact_ids=[c.pk for c in make_contacts(7)])
    cache.add(_drain_key(1), 1)  # a drain is running
    with django_capture_on_commit_callbacks(execute=False):
        assert journeys.journeys_tick()["journey_enrollments"] == 2
    assert cache.get(_drain_key(0)) == 1  # the free slot got a drain of its own
