"""Engine events written with their change (SendNotice): published on commit, redelivered by the tick if lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.utils import timezone

from delivery import events, services
from delivery.models import Send, SendNotice
from delivery.services import notices
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_handler() -> Iterator[list[str]]:
    calls: list[str] = []

    def handler(send_id: int, event: str, reason: str) -> None:
        calls.append(event)
        raise RuntimeError("subscriber down")

    events.subscribe(handler)  # type: ignore[arg-type]
    yield calls
    events._handlers.remove(handler)  # type: ignore[arg-type]


def test_an_event_is_written_with_its_change_and_marked_published_after_the_commit(
    django_capture_on_commit_callbacks, published
) -> None:
    send = started_send(make_contacts(3))

    with django_capture_on_commit_callbacks(execute=True):
        services.send_pause(send_id=send.pk, reason="hold")

    notice = SendNotice.objects.get(send=send, event="paused")
    assert notice.reason == "hold" and notice.published_at is not None
    assert (send.pk, "paused", "hold") in published


def test_an_event_lost_after_its_commit_is_published_by_the_tick_after_30_seconds(published) -> None:
    send = started_send(make_contacts(3))  # its `started` callback never ran: the process died after the commit
    notice = SendNotice.objects.get(send=send, event="started")

    assert services.notices_redeliver(now=notice.created_at + dt.timedelta(seconds=10)) == 0
    assert services.notices_redeliver(now=notice.created_at + dt.timedelta(seconds=31)) == 1

    assert (send.pk, "started", "") in published
    assert SendNotice.objects.get(pk=notice.pk).published_at is not None
    assert services.notices_redeliver(now=notice.created_at + dt.timedelta(seconds=60)) == 0


def test_an_event_a_subscriber_refused_stays_unpublished_and_is_offered_again(
    django_capture_on_commit_callbacks, failing_handler
) -> None:
    send = started_send(make_contacts(3))
    with django_capture_on_commit_callbacks(execute=True):
        services.send_cancel(send_id=send.pk)
    notice = SendNotice.objects.get(send=send, event="cancelled")
    assert notice.published_at is None

    services.notices_redeliver(now=notice.created_at + dt.timedelta(minutes=1))

    assert failing_handler.count("cancelled") == 2
    assert SendNotice.objects.get(pk=notice.pk).published_at is None


def test_a_notice_older_than_a_day_is_no_longer_offered(published) -> None:
    with time_machine.travel(timezone.now() - dt.timedelta(days=2), tick=False):
        send = started_send(make_contacts(1))

    assert services.notices_redeliver() == 0
    assert Send.objects.get(pk=send.pk).status == Send.Status.SENDING


def test_redelivery_keeps_the_order_of_a_sends_events(published) -> None:
    send = started_send(make_contacts(3))
    services.send_pause(send_id=send.pk)
    services.send_resume(send_id=send.pk)  # none of these callbacks ran

    notices.notices_redeliver(now=timezone.now() + dt.timedelta(minutes=1))

    assert [event for sid, event, _ in published if sid == send.pk] == ["started", "paused", "resumed"]
