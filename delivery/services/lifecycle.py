"""A Send's lifecycle after the snapshot: finish, pause, resume, fail, cancel, retry, and the watchdog that repairs
what crashes leave behind. Each change is a conditional update; the layers above hear it through delivery.events
once it commits."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.utils import timezone

from delivery.models import Delivery, Send
from delivery.services.notices import publish_on_commit
from delivery.services.window import enqueue_pages, enqueue_snapshot_rest, refill_window

logger = logging.getLogger("delivery.services")

SendStatus = Send.Status
DeliveryStatus = Delivery.Status


def send_finish_if_complete(*, send_id: int, trust_counters: bool = True) -> bool:
    """Close a `sending` Send once none of its rows is queued. Called after each page commits: the last page
    to commit sees every other page's commit, so exactly one caller (or the watchdog) closes it."""
    # The counters move in each page's transaction, so they say cheaply whether a row can still be queued.
    if (
        trust_counters
        and not Send.objects.filter(
            pk=send_id, status=SendStatus.SENDING, total__lte=F("sent") + F("failed") + F("cancelled")
        ).exists()
    ):
        return False
    with transaction.atomic():
        # Committed rows are never `sending` (that state lives only inside a page's transaction).
        if Delivery.objects.filter(send_id=send_id, status=DeliveryStatus.QUEUED).exists():
            return False
        now = timezone.now()
        # Not while the rest of a two-part snapshot is still to be written (send_snapshot_rest closes it then).
        if not Send.objects.filter(pk=send_id, status=SendStatus.SENDING, snapshot_rest_sql="").update(
            status=SendStatus.DONE, finished_at=now, last_progress_at=now
        ):
            return False
        publish_on_commit(send_id, "finished")
    logger.info("send %s: finished", send_id)
    return True


def contact_deleting(*, contact_id: int) -> None:
    """A deleted contact takes its Delivery rows with it (Django's cascade; the rows hold the email address).
    Its rows still queued count as cancelled first, so each send's counters still add up to its total and the
    send closes as usual instead of waiting for the watchdog. Runs inside the delete's transaction; the lock
    waits for a page that has claimed one of the rows, after which that row is no longer queued."""
    queued = list(
        Delivery.objects.select_for_update()
        .filter(contact_id=contact_id, status=DeliveryStatus.QUEUED)
        .order_by("id")
        .values_list("send_id", flat=True)
    )
    for send_id in sorted(set(queued)):
        Send.objects.filter(pk=send_id).update(cancelled=F("cancelled") + queued.count(send_id))
        transaction.on_commit(functools.partial(send_finish_if_complete, send_id=send_id))


def send_pause(*, send_id: int, reason: str = "") -> bool:
    """Stop sending within a second: page tasks check the status inside their transaction. True if it changed."""
    with transaction.atomic():
        changed = Send.objects.filter(pk=send_id, status__in=(SendStatus.SENDING, SendStatus.PENDING)).update(
            status=SendStatus.PAUSED, status_reason=(reason or "Paused")[:500]
        )
        if changed:
            publish_on_commit(send_id, "paused", reason)
    return bool(changed)


def send_resume(*, send_id: int) -> int:
    """Continue a paused Send: re-enqueue its released pages that still have queued rows and refill the window.
    Returns the number of pages enqueued."""
    with transaction.atomic():
        send = Send.objects.select_for_update().filter(pk=send_id).first()
        if send is None or send.status != SendStatus.PAUSED:
            return 0
        if send.started_at is None:
            # Paused before the snapshot ran: it goes back to pending; the caller's send_start does the rest.
            Send.objects.filter(pk=send_id).update(status=SendStatus.PENDING, status_reason="")
            return 0
        Send.objects.filter(pk=send_id, status=SendStatus.PAUSED).update(
            status=SendStatus.SENDING, status_reason="", last_progress_at=timezone.now()
        )
        pages = refill_window(send_id)
        transaction.on_commit(lambda: enqueue_pages(send_id, pages))
        publish_on_commit(send_id, "resumed")
        if send.snapshot_rest_sql:
            # The rest of its snapshot was interrupted while paused (or is still being written: a no-op then).
            transaction.on_commit(functools.partial(enqueue_snapshot_rest, send_id))
    if not pages:
        send_finish_if_complete(send_id=send_id, trust_counters=False)
    return len(pages)


def send_fail(*, send_id: int, reason: str) -> int:
    """End a `sending` (or paused) Send as `failed` with `reason`, and fail its queued rows with that reason.
    The layers above hear `failed` once the status change commits (campaigns marks the scenario failed and
    notifies its owner). Returns the rows failed; a second call (another page with the same error) changes nothing.

    Two steps, as `send_cancel`: the status commits first, so pages starting now skip; the rows update then waits
    only for pages already in flight, which finish their own rows. Call it outside a page's transaction."""
    reason = reason[:500]
    with transaction.atomic():
        changed = Send.objects.filter(pk=send_id, status__in=(SendStatus.SENDING, SendStatus.PAUSED)).update(
            status=SendStatus.FAILED, status_reason=reason, finished_at=timezone.now()
        )
        if changed:
            publish_on_commit(send_id, "failed", reason)
    if not changed:
        return 0
    logger.warning("send %s: failed: %s", send_id, reason)
    return fail_queued_rows(send_id, reason)


def fail_queued_rows(send_id: int, reason: str) -> int:
    with transaction.atomic():
        count = Delivery.objects.filter(send_id=send_id, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.FAILED, attempts=F("attempts") + 1, last_error=reason[:500]
        )
        if count:
            Send.objects.filter(pk=send_id).update(failed=F("failed") + count)
    return count


def send_cancel(*, send_id: int, reason: str = "") -> int:
    """Stop for good: the Send is `cancelled` and its queued rows become `cancelled`. Returns the rows cancelled.

    The status change commits first, so a page starting now skips; the set-based row update then waits only
    for pages already in flight, which finish their own rows (never a queued row of ours: both use conditions).
    """
    with transaction.atomic():
        changed = Send.objects.filter(
            pk=send_id, status__in=(SendStatus.PENDING, SendStatus.SENDING, SendStatus.PAUSED)
        ).update(status=SendStatus.CANCELLED, status_reason=(reason or "Cancelled")[:500], finished_at=timezone.now())
        if changed:
            publish_on_commit(send_id, "cancelled", reason)
    return cancel_queued_rows(send_id)


def cancel_queued_rows(send_id: int) -> int:
    with transaction.atomic():
        count = Delivery.objects.filter(send_id=send_id, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.CANCELLED, last_error="Send cancelled"
        )
        if count:
            Send.objects.filter(pk=send_id).update(cancelled=F("cancelled") + count)
    return count


def send_retry_failed(*, send_id: int) -> int:
    """Queue the failed rows again in a new retry round (new Idempotency-Keys: those rows were never sent).
    Returns the number of rows queued again."""
    with transaction.atomic():
        send = Send.objects.select_for_update().filter(pk=send_id).first()
        if send is None or send.status not in (
            SendStatus.DONE,
            SendStatus.PAUSED,
            SendStatus.FAILED,
            SendStatus.SENDING,
        ):
            return 0
        count = Delivery.objects.filter(send_id=send_id, status=DeliveryStatus.FAILED).update(
            status=DeliveryStatus.QUEUED, attempts=0, last_error=""
        )
        if not count:
            return 0
        Send.objects.filter(pk=send_id).update(
            status=SendStatus.SENDING,
            status_reason="",
            failed=F("failed") - count,
            retry_round=F("retry_round") + 1,
            finished_at=None,
            last_progress_at=timezone.now(),
        )
        # The failed rows are on released pages; every such page goes out again, plus the window's room.
        pages = refill_window(send_id)
        transaction.on_commit(lambda: enqueue_pages(send_id, pages))
        publish_on_commit(send_id, "resumed")
    return count


# A stalled send with messages in line is repaired anyway after this many times DELIVERY_WATCHDOG_SECONDS (7.5 min
# at the default 45 s): longer than the 1M-journeys backlog kept sends in line (docs/benchmarks.md, Journeys).
IN_LINE_PATIENCE = 10


def pages_waiting() -> int | None:
    """Task messages waiting in the broker's default queue (every priority list; the tick has its own queue), or
    None when the broker cannot say. One Redis round trip (LLEN per priority list) or one folder listing."""
    from celery import current_app

    try:
        with current_app.connection_for_read() as conn:
            queue = current_app.conf.task_default_queue
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:  # the broker is down: the watchdog then acts on the rows alone, as before
        logger.warning("watchdog: cannot read the queue depth", exc_info=True)
        return None


def watchdog(*, now: datetime | None = None, stale_after: float | None = None) -> int:
    """Repair what crashes leave behind; called by the scheduler tick. Returns the number of pages re-enqueued.

    - A `sending` Send with no progress for `stale_after` seconds (its page messages were lost with a killed
      worker: Redis redelivers unacked messages only after the visibility timeout) gets its released queued
      pages again and a full window. Duplicated messages are harmless: a page with no queued rows is a no-op.
      Only when the default queue is empty: a send with no progress while messages wait is in line, not lost
      (with a million journey enrollments due, hundreds of small Sends waited over `stale_after` behind each
      other and were re-enqueued 7,279 times, each copy lengthening the line). Its `last_progress_at` is left
      as it is, so it is repaired on the first tick that finds the queue empty, or once it has been stalled
      `IN_LINE_PATIENCE` times `stale_after` (then at most once per that period, as each repair resets the clock).
    - A `sending` Send with no queued row left (the finishing worker died after its commit) is closed.
    - A Send whose two-part snapshot never got its rest written (the worker died: `send_snapshot_task` is lost or
      rolled back) gets the task again; if it is still running, the copy finds its lock taken and does nothing.
    - A `cancelled` Send with queued rows left (died between the two steps of a cancel) has them cancelled;
      a `failed` one (died between the two steps of `send_fail`) has them failed.
    """
    now = now or timezone.now()
    if stale_after is None:
        stale_after = float(settings.DELIVERY_WATCHDOG_SECONDS)
    stale = now - timedelta(seconds=stale_after)
    enqueued = 0
    stalled = Send.objects.filter(status=SendStatus.SENDING, last_progress_at__lt=stale).annotate(
        rest=ExpressionWrapper(~Q(snapshot_rest_sql=""), output_field=BooleanField())
    )
    candidates = list(stalled.values_list("pk", "last_progress_at", "rest"))
    waiting = pages_waiting() if candidates else None
    if waiting:
        # In line, not lost; but not for ever: a long rate-limited send keeps the queue busy for hours, and a page
        # message really lost meanwhile (a SIGKILL between commit and publish) must not wait for its end.
        patience = now - timedelta(seconds=stale_after * IN_LINE_PATIENCE)
        in_line = sum(seen is not None and seen >= patience for _, seen, _ in candidates)
        if in_line:
            logger.info("watchdog: %s send(s) without progress, %s message(s) in line: not lost", in_line, waiting)
        candidates = [row for row in candidates if row[1] is None or row[1] < patience]
    for send_id, seen, rest in candidates:
        pages: list[int] = []
        with transaction.atomic():
            # Conditional on the value we read, so two ticks never both re-enqueue the same stall.
            if not Send.objects.filter(pk=send_id, status=SendStatus.SENDING, last_progress_at=seen).update(
                last_progress_at=now
            ):
                continue
            if rest:
                # The rest of a two-part snapshot: its task was lost with a killed worker, or is still running
                # (a large audience): the copy enqueued here then finds the advisory lock taken and returns.
                transaction.on_commit(functools.partial(enqueue_snapshot_rest, send_id))
                logger.warning("watchdog: send %s has the rest of its snapshot to write; enqueued", send_id)
            pages = refill_window(send_id)
            if pages:
                transaction.on_commit(functools.partial(enqueue_pages, send_id, pages))
                enqueued += len(pages)
                logger.warning("watchdog: send %s stalled, re-enqueued %s pages", send_id, len(pages))
        if not pages:
            send_finish_if_complete(send_id=send_id, trust_counters=False)
    # Stopped sends whose rest was never written (the worker died): written now, and at once cancelled or failed
    # with the rest of their rows, so the totals are right. A paused one waits for resume (which enqueues it).
    for send_id, seen in (
        Send.objects.filter(status__in=(SendStatus.CANCELLED, SendStatus.FAILED), last_progress_at__lt=stale)
        .exclude(snapshot_rest_sql="")
        .values_list("pk", "last_progress_at")
    ):
        if Send.objects.filter(pk=send_id, last_progress_at=seen).update(last_progress_at=now):
            transaction.on_commit(functools.partial(enqueue_snapshot_rest, send_id))
    leftovers = Send.objects.filter(status=SendStatus.CANCELLED, finished_at__gte=now - timedelta(days=1)).filter(
        Exists(Delivery.objects.filter(send_id=OuterRef("pk"), status=DeliveryStatus.QUEUED))
    )
    for send_id in leftovers.values_list("pk", flat=True):
        cancel_queued_rows(send_id)
    failed_leftovers = Send.objects.filter(status=SendStatus.FAILED, finished_at__gte=now - timedelta(days=1)).filter(
        Exists(Delivery.objects.filter(send_id=OuterRef("pk"), status=DeliveryStatus.QUEUED))
    )
    for send_id, reason in failed_leftovers.values_list("pk", "status_reason"):
        fail_queued_rows(send_id, reason)  # died between the two steps of send_fail
    return enqueued
