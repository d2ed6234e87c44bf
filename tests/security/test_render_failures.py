"""Issue 13 §3: a render error during a send fails that send with the reason instead of leaving it `sending`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Notification
from campaigns import services as campaign_services
from campaigns.models import Campaign, Emailer, Scenario
from delivery import events, services
from delivery.models import Delivery, OutboxMessage, Send
from tests.delivery.helpers import make_contacts, started_send
from tests.factories import CampaignFactory, ScenarioFactory, add_to_batch

pytestmark = pytest.mark.django_db

UNPACK_ERROR = "{% for a, b in first_name %}{{ a }}{% endfor %}"  # compiles, fails on every contact's value


@pytest.fixture
def published() -> Iterator[list[tuple[int, str, str]]]:
    seen: list[tuple[int, str, str]] = []

    def record(send_id: int, event: events.SendEvent, reason: str) -> None:
        seen.append((send_id, event, reason))

    events.subscribe(record)
    yield seen
    events._handlers.remove(record)


def test_a_render_error_during_a_send_fails_the_send_with_the_reason() -> None:
    send = started_send(make_contacts(3), body_text=UNPACK_ERROR)

    outcome = services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert outcome.status == "render-failed"
    assert send.status == Send.Status.FAILED
    assert "could not be rendered" in send.status_reason
    assert "unpack" in send.status_reason
    assert send.finished_at is not None


def test_a_failed_send_fails_its_queued_rows_with_the_reason_and_sends_nothing() -> None:
    send = started_send(make_contacts(3), body_text=UNPACK_ERROR)

    services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    rows = list(Delivery.objects.filter(send=send).values_list("status", "last_error"))
    assert {status for status, _ in rows} == {Delivery.Status.FAILED}
    assert all("could not be rendered" in error for _, error in rows)
    assert send.failed == 3
    assert not OutboxMessage.objects.exists()


def test_a_subject_with_a_syntax_error_stored_before_validation_fails_the_send() -> None:
    send = started_send(make_contacts(1), subject="Hello {% if first_name %}")

    services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert send.status == Send.Status.FAILED
    assert "Line 1" in send.status_reason


def test_a_send_past_the_render_time_limit_fails_with_the_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TEMPLATE_RENDER_MAX_SECONDS = 0.1
    loops = '{% for a in "' + "x" * 300 + '" %}{% for b in "' + "x" * 300 + '" %}{% for c in "xxxxxxxxxx" %}.'
    send = started_send(make_contacts(1), body_text=loops + "{% endfor %}{% endfor %}{% endfor %}")

    services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert send.status == Send.Status.FAILED
    assert "took longer than 0.1 s" in send.status_reason


def test_a_failed_send_tells_the_layers_above_once(
    published: list[tuple[int, str, str]], django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    send = started_send(make_contacts(2), body_text=UNPACK_ERROR)

    with django_capture_on_commit_callbacks(execute=True):
        services.page_send(send_id=send.pk, page=0)
        services.page_send(send_id=send.pk, page=0)

    failed = [(send_id, reason) for send_id, event, reason in published if event == "failed"]
    assert len(failed) == 1
    assert failed[0][0] == send.pk and "could not be rendered" in failed[0][1]


def test_send_fail_called_twice_fails_once() -> None:
    send = started_send(make_contacts(2))

    assert services.send_fail(send_id=send.pk, reason="boom") == 2
    assert services.send_fail(send_id=send.pk, reason="again") == 0

    send.refresh_from_db()
    assert send.status_reason == "boom"
    assert send.failed == 2


def test_the_watchdog_fails_rows_left_queued_by_a_send_that_failed_half_way() -> None:
    send = started_send(make_contacts(2))
    Send.objects.filter(pk=send.pk).update(status=Send.Status.FAILED, status_reason="boom", finished_at=timezone.now())

    services.watchdog()

    assert set(Delivery.objects.filter(send=send).values_list("status", flat=True)) == {Delivery.Status.FAILED}


def test_a_scenario_whose_content_fails_to_render_ends_failed_and_its_owner_is_notified(
    manager: User, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    campaign = cast(Campaign, CampaignFactory(created_by=manager))
    add_to_batch(campaign.batch, make_contacts(2))
    # Stored before subject/content validation existed (or written by the admin): it must still not hang.
    scenario = cast(
        Scenario,
        ScenarioFactory(campaign=campaign, content=UNPACK_ERROR, created_by=manager, status=Scenario.Status.SENDING),
    )
    emailer = campaign_services.emailer_plan(scenario=scenario)
    with django_capture_on_commit_callbacks(execute=False):  # no page messages to a broker
        campaign_services.emailer_run(emailer_id=emailer.pk)
    send_id = Emailer.objects.get(pk=emailer.pk).send_id
    assert send_id is not None

    with django_capture_on_commit_callbacks(execute=True):
        services.page_send(send_id=send_id, page=0)

    scenario.refresh_from_db()
    assert scenario.status == Scenario.Status.FAILED
    note = Notification.objects.get(user=manager, level=Notification.Level.DANGER)
    assert "could not be rendered" in note.body
