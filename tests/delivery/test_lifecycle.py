from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from delivery import selectors, services
from delivery.models import Delivery, OutboxMessage, Send
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

DeliveryStatus = Delivery.Status
SendStatus = Send.Status


def test_a_paused_send_sends_nothing_more(django_capture_on_commit_callbacks, published) -> None:
    send = started_send(make_contacts(200))

    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_pause(send_id=send.pk, reason="Paused by ann") is True
    outcome = services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert (send.status, send.status_reason) == (SendStatus.PAUSED, "Paused by ann")
    assert outcome.status == "skipped"
    assert OutboxMessage.objects.count() == 0
    assert (send.pk, "paused", "Paused by ann") in published


def test_resume_re_enqueues_only_the_pages_with_queued_rows(
    django_capture_on_commit_callbacks, queued_messages
) -> None:
    send = started_send(make_contacts(250))
    services.page_send(send_id=send.pk, page=1)
    services.send_pause(send_id=send.pk)

    with django_capture_on_commit_callbacks(execute=True):
        pages = services.send_resume(send_id=send.pk)

    send.refresh_from_db()
    assert send.status == SendStatus.SENDING
    assert pages == 2
    assert queued_messages() == 2


def test_resume_of_a_send_that_is_not_paused_does_nothing() -> None:
    send = started_send(make_contacts(5))

    assert services.send_resume(send_id=send.pk) == 0


def test_cancel_marks_the_queued_rows_cancelled_and_stops_the_pages(
    published, django_capture_on_commit_callbacks
) -> None:
    send = started_send(make_contacts(250))
    services.page_send(send_id=send.pk, page=0)

    with django_capture_on_commit_callbacks(execute=True):
        cancelled = services.send_cancel(send_id=send.pk, reason="Stop")
    outcome = services.page_send(send_id=send.pk, page=1)

    send.refresh_from_db()
    assert cancelled == 150
    assert (send.status, send.sent, send.cancelled) == (SendStatus.CANCELLED, 100, 150)
    assert Delivery.objects.filter(send=send, status=DeliveryStatus.QUEUED).count() == 0
    assert outcome.status == "skipped"
    assert (send.pk, "cancelled", "Stop") in published


def test_retry_failed_queues_the_failed_rows_in_a_new_round(
    django_capture_on_commit_callbacks, queued_messages
) -> None:
    send = started_send(make_contacts(150))
    services.page_send(send_id=send.pk, page=0)
    Delivery.objects.filter(send=send, page=1).update(status=DeliveryStatus.FAILED, last_error="boom")
    Send.objects.filter(pk=send.pk).update(failed=50, status=SendStatus.DONE)

    with django_capture_on_commit_callbacks(execute=True):
        requeued = services.send_retry_failed(send_id=send.pk)

    send.refresh_from_db()
    assert requeued == 50
    assert (send.status, send.failed, send.retry_round) == (SendStatus.SENDING, 0, 1)
    assert Delivery.objects.filter(send=send, status=DeliveryStatus.QUEUED, last_error="").count() == 50
    assert queued_messages() == 1
    services.page_send(send_id=send.pk, page=1)
    send.refresh_from_db()
    assert (send.status, send.sent) == (SendStatus.DONE, 150)


def test_watchdog_re_enqueues_the_queued_pages_of_a_stalled_send(
    django_capture_on_commit_callbacks, queued_messages
) -> None:
    send = started_send(make_contacts(250))
    services.page_send(send_id=send.pk, page=0)
    later = timezone.now() + dt.timedelta(minutes=5)

    with django_capture_on_commit_callbacks(execute=True):
        first = services.watchdog(now=later)
        again = services.watchdog(now=later)

    assert (first, again) == (2, 0)
    assert queued_messages() == 2
    send.refresh_from_db()
    assert send.last_progress_at == later


def test_watchdog_leaves_a_send_that_progresses_alone(queued_messages) -> None:
    started_send(make_contacts(150))

    assert services.watchdog() == 0
    assert queued_messages() == 0


def test_watchdog_closes_a_sending_send_with_nothing_left_to_send(
    django_capture_on_commit_callbacks, published
) -> None:
    send = started_send(make_contacts(10))
    Delivery.objects.filter(send=send).update(status=DeliveryStatus.SENT)

    with django_capture_on_commit_callbacks(execute=True):
        services.watchdog(now=timezone.now() + dt.timedelta(minutes=5))

    send.refresh_from_db()
    assert send.status == SendStatus.DONE
    assert (send.pk, "finished", "") in published


def test_progress_reports_counts_rate_and_eta() -> None:
    send = started_send(make_contacts(300))
    Send.objects.filter(pk=send.pk).update(started_at=timezone.now() - dt.timedelta(seconds=10))
    services.page_send(send_id=send.pk, page=0)

    progress = selectors.send_progress(send_id=send.pk)

    assert (progress.total, progress.sent, progress.failed, progress.queued, progress.cancelled) == (
        300,
        100,
        0,
        200,
        0,
    )
    assert progress.status == SendStatus.SENDING
    assert 9 <= progress.rate_per_s <= 10.1
    assert progress.eta_seconds is not None and 19 <= progress.eta_seconds <= 23


def test_watchdog_command_re_enqueues_stalled_pages(django_capture_on_commit_callbacks, queued_messages) -> None:
    from io import StringIO

    from django.core.management import call_command

    send = started_send(make_contacts(150))
    Send.objects.filter(pk=send.pk).update(last_progress_at=timezone.now() - dt.timedelta(minutes=5))
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("delivery_watchdog", stdout=out)

    assert "Re-enqueued 2 page(s)." in out.getvalue()
    assert queued_messages() == 2


def test_resume_refills_the_window_when_the_released_pages_are_done(
    settings, django_capture_on_commit_callbacks, queued_messages
) -> None:
    settings.DELIVERY_WINDOW_PAGES = 2
    send = started_send(make_contacts(500))  # 5 pages, 0 and 1 released
    services.page_send(send_id=send.pk, page=0)
    services.page_send(send_id=send.pk, page=1)  # each released one more: next_page is 4
    services.page_send(send_id=send.pk, page=2)
    services.page_send(send_id=send.pk, page=3)
    services.send_pause(send_id=send.pk)

    with django_capture_on_commit_callbacks(execute=True):
        pages = services.send_resume(send_id=send.pk)

    send.refresh_from_db()
    assert (pages, send.next_page) == (1, 5)
    assert queued_messages() == 1


def test_watchdog_leaves_a_stalled_send_alone_while_messages_wait_in_the_queue(
    django_capture_on_commit_callbacks, queued_messages
) -> None:
    from delivery.tasks import page_send_task

    other = started_send(make_contacts(150))
    page_send_task.apply_async(args=(other.pk, 0))  # another send's page, still in line
    send = started_send(make_contacts(250, prefix="s"))
    stalled_since = timezone.now() - dt.timedelta(minutes=5)
    Send.objects.filter(pk=send.pk).update(last_progress_at=stalled_since)

    with django_capture_on_commit_callbacks(execute=True):
        enqueued = services.watchdog()

    assert enqueued == 0
    assert queued_messages() == 1
    send.refresh_from_db()
    assert send.last_progress_at == stalled_since


def test_watchdog_repairs_a_send_stalled_past_its_patience_even_with_messages_in_line(
    django_capture_on_commit_callbacks, queued_messages
) -> None:
    from delivery.services.lifecycle import IN_LINE_PATIENCE
    from delivery.tasks import page_send_task

    other = started_send(make_contacts(150))
    page_send_task.apply_async(args=(other.pk, 0))
    send = started_send(make_contacts(250, prefix="s"))
    stale_after = 45.0
    long_ago = timezone.now() - dt.timedelta(seconds=stale_after * IN_LINE_PATIENCE + 60)
    Send.objects.filter(pk=send.pk).update(last_progress_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        enqueued = services.watchdog(stale_after=stale_after)

    assert enqueued == 3
    assert queued_messages() == 4
