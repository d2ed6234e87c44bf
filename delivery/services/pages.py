"""Sending one page of a Send in one transaction (the exactly-once argument is in `delivery.services`)."""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from contacts import crypto
from contacts.models import Contact
from delivery.compose import Recipient, compose_page
from delivery.lru import LRUCache
from delivery.models import Delivery, Send
from delivery.ratelimit import HourlyCapReached, get_limiter
from delivery.services.claim import ClaimedRow, claim_page
from delivery.services.lifecycle import send_fail, send_finish_if_complete
from delivery.services.notices import publish_on_commit
from delivery.services.prepared import prepared, returning
from delivery.services.window import release_next_page
from delivery.transports import PermanentError, SendResult, TransientError, Transport, get_transport
from templates_app.rendering import TemplateError

logger = logging.getLogger("delivery.services")

SendStatus = Send.Status
DeliveryStatus = Delivery.Status

# The auto-pause judges the error rate only once this many recipients were attempted, so one bad address among
# the first few does not stop a campaign.
ERROR_PAUSE_MIN_ATTEMPTED = 50
# Backoff for 5xx and network errors: 2, 4, 8 ... seconds, capped.
BACKOFF_CAP_SECONDS = 60.0


@dataclass(frozen=True)
class PageOutcome:
    """What a page call did. `retry_in` set means: run this page again after that many seconds."""

    status: str
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None
    # The Send's counters, right after this page, said every recipient is accounted for.
    complete: bool = False
    error: str = ""  # why the page could not be sent at all ("render-failed")


def idempotency_key(*, send_id: int, page: int, retry_round: int, delivery_ids: list[int]) -> str:
    """Deterministic: the same rows of the same page in the same retry round always get the same key."""
    digest = hashlib.sha256(",".join(str(i) for i in sorted(delivery_ids)).encode()).hexdigest()[:24]
    return f"herald-{send_id}-{page}-{retry_round}-{digest}"


# A Send's content and sender, read once per process: they do not change once a Send has started (its status and
# retry round, which do, come fresh with every claim).
_sends: LRUCache[int, Send] = LRUCache(32)


def _send_content(send_id: int) -> Send:
    send = _sends.get(send_id)
    if send is None:
        send = Send.objects.select_related("template").get(pk=send_id)
        _sends.put(send_id, send)
    return send


def _send_status(send_id: int) -> str | None:
    # A fresh statement: under READ COMMITTED it sees a pause or cancel committed a moment ago.
    return Send.objects.filter(pk=send_id).values_list("status", flat=True).first()


def _backoff(attempts: int) -> float:
    return min(BACKOFF_CAP_SECONDS, 2.0 ** max(1, attempts)) * (0.75 + random.random() / 2)


def page_send(*, send_id: int, page: int) -> PageOutcome:
    """Send one page of a Send in one transaction (why this is exactly-once: the docstring of `delivery.services`)."""
    transport = get_transport()
    with transaction.atomic():
        claim = claim_page(send_id, page)
        if claim.status != SendStatus.SENDING:
            return PageOutcome(status="skipped")
        if not claim.locked:
            return PageOutcome(status="busy")
        if not claim.rows:
            outcome = PageOutcome(status="empty")
        else:
            outcome = _send_rows(_send_content(send_id), claim.retry_round, page, list(claim.rows), transport)
    if outcome.status == "render-failed":
        # After the page's transaction: it holds row locks that failing the other pages' rows would wait for.
        send_fail(send_id=send_id, reason=outcome.error)
        return outcome
    if outcome.complete:
        send_finish_if_complete(send_id=send_id, trust_counters=False)
    elif outcome.status == "empty":
        send_finish_if_complete(send_id=send_id)  # a repeated page message: cheap check on the counters
    return outcome


def _send_rows(send: Send, retry_round: int, page: int, rows: list[ClaimedRow], transport: Transport) -> PageOutcome:
    now = timezone.now()
    key = idempotency_key(send_id=send.pk, page=page, retry_round=retry_round, delivery_ids=[r.id for r in rows])
    # Contacts who unsubscribed (or bounced) after the snapshot get nothing more; nor does a row whose contact is
    # gone (the LEFT JOIN gave no status).
    suppressed = [r.id for r in rows if r.contact_status != Contact.Status.SUBSCRIBED]
    recipients = [
        Recipient(
            delivery_id=r.id,
            contact_id=r.contact_id,
            email=r.email,
            first_name=r.first_name or "",
            last_name=r.last_name or "",
            mobile=crypto.decrypt(r.mobile or ""),  # stored encrypted; the claim reads the raw column
            lms_lead_id=r.lms_lead_id,
        )
        for r in rows
        if r.contact_status == Contact.Status.SUBSCRIBED
    ]
    attempts_by_id = {r.id: r.attempts for r in rows}
    results: list[SendResult] = []
    if recipients:
        try:
            emails = compose_page(send=send, recipients=recipients, derived_text=not transport.derives_text_part)
        except TemplateError as exc:
            # The content cannot be rendered (a syntax error that got past validation, a filter failing on a
            # contact's value, a render limit). Every page would fail the same way: page_send fails the whole
            # Send once this transaction ends, instead of the page being retried forever.
            return PageOutcome(status="render-failed", error=f"The message could not be rendered: {exc}")
        try:
            waited = get_limiter().acquire(emails=len(emails))
        except HourlyCapReached as exc:
            return PageOutcome(status="hourly-cap", retry_in=max(1.0, exc.retry_after))
        if waited > 0 and _send_status(send.pk) != SendStatus.SENDING:
            return PageOutcome(status="stopped")  # paused or cancelled while we waited for the rate limiter
        try:
            results = transport.send_batch(emails, idempotency_key=key)
        except TransientError as exc:
            return _transient(send, page, rows, attempts_by_id, exc)
        except PermanentError as exc:
            results = [SendResult(error=str(exc)[:500]) for _ in emails]
    return _record(send, page, recipients, results, suppressed, now)


def _transient(
    send: Send, page: int, rows: list[ClaimedRow], attempts_by_id: dict[int, int], exc: TransientError
) -> PageOutcome:
    """The whole call may work later. 429s do not count as attempts; other errors do, up to the maximum."""
    reason = str(exc)[:500]
    if exc.rate_limited:
        wait = exc.retry_after if exc.retry_after is not None else 1.0
        get_limiter().block(seconds=wait)  # every worker backs off, not just this one
        logger.info("send %s page %s: rate limited, retry in %.1fs", send.pk, page, wait)
        return PageOutcome(status="rate-limited", retry_in=wait + random.random() / 4)
    ids = list(attempts_by_id)
    attempts = max(attempts_by_id.values()) + 1
    if attempts >= int(settings.DELIVERY_MAX_ATTEMPTS):
        failed = Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.FAILED,
            attempts=F("attempts") + 1,
            last_error=f"Gave up after {attempts} attempts: {reason}",
        )
        complete = _count(send.pk, sent=0, failed=failed, cancelled=0)
        release_next_page(send.pk)
        return PageOutcome(status="gave-up", failed=failed, complete=complete)
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.QUEUED).update(
        attempts=F("attempts") + 1, last_error=reason
    )
    wait = exc.retry_after if exc.retry_after is not None else _backoff(attempts)
    logger.warning("send %s page %s: %s (attempt %s), retry in %.1fs", send.pk, page, reason, attempts, wait)
    return PageOutcome(status="transient", retry_in=wait)


def _record(
    send: Send,
    page: int,
    recipients: list[Recipient],
    results: list[SendResult],
    suppressed: list[int],
    now: datetime,
) -> PageOutcome:
    if len(results) != len(recipients):
        raise RuntimeError(f"transport returned {len(results)} results for {len(recipients)} emails")
    sent_rows: list[_RowValue] = []
    failed_rows: list[_RowValue] = []
    for recipient, result in zip(recipients, results, strict=True):
        if result.sent:
            sent_rows.append(_RowValue(recipient.delivery_id, result.provider_message_id[:100]))
        elif not result.retry:
            failed_rows.append(_RowValue(recipient.delivery_id, result.error[:500]))
        # result.retry (SMTP's broken connection): the row stays queued for the page's next run.
    sent, failed = len(sent_rows), len(failed_rows)
    _update_rows(
        sent_rows, send_id=send.pk, page=page, status=DeliveryStatus.SENT, column="provider_message_id", sent_at=now
    )
    _update_rows(
        failed_rows, send_id=send.pk, page=page, status=DeliveryStatus.FAILED, column="last_error", sent_at=None
    )
    cancelled = 0
    if suppressed:
        cancelled = Delivery.objects.filter(pk__in=suppressed, status=DeliveryStatus.QUEUED).update(
            status=DeliveryStatus.CANCELLED, last_error="Contact no longer subscribed"
        )
    complete = _count(send.pk, sent=sent, failed=failed, cancelled=cancelled)
    retry_left = any(r.retry for r in results)
    if not retry_left:
        release_next_page(send.pk)
    return PageOutcome(
        status="sent", sent=sent, failed=failed, retry_in=_backoff(1) if retry_left else None, complete=complete
    )


class _RowValue(NamedTuple):
    delivery_id: int
    value: str  # the provider's message id, or the error


def _update_rows(
    rows: list[_RowValue], *, send_id: int, page: int, status: str, column: str, sent_at: datetime | None
) -> None:
    """One UPDATE for the page's rows, each with its own value of `column` (provider id or error).

    The rows are found through the page (`send_id`, `page` and the literal `'queued'`: the queued-page index, also
    in the prepared statement's generic plan), not only by id: joined by id alone, the planner hashed every queued
    row of every send (its estimate of the partial index is stale during a large send), which made each page cost
    as much as the rows still to send. On PostgreSQL the values travel as two arrays (a fixed statement text: no
    200-parameter VALUES list to build, parse and plan per page); SQLite (>= 3.33) gets a VALUES list. Django's
    bulk_update builds a CASE per row and cost ~0.4 s of CPU per page.
    """
    if not rows:
        return
    table = Delivery._meta.db_table
    other = "last_error = ''" if column == "provider_message_id" else "provider_message_id = ''"
    ids = [row.delivery_id for row in rows]
    vals = [row.value for row in rows]
    postgres = connection.vendor == "postgresql"
    if postgres:
        source = "unnest(%b::bigint[], %b::text[]) AS v(id, val)"  # binary arrays: no text quoting per element
        source_params: list[Any] = [ids, vals]
    else:
        source = "(SELECT column1 AS id, column2 AS val FROM (VALUES " + ", ".join(["(%s, %s)"] * len(rows)) + ")) AS v"
        source_params = [x for row in rows for x in row]
    queued = DeliveryStatus.QUEUED
    sql = f"""
        UPDATE {table} SET status = %s, {column} = v.val, {other}, sent_at = %s, attempts = {table}.attempts + 1
        FROM {source}
        WHERE {table}.id = v.id AND {table}.send_id = %s AND {table}.page = %s AND {table}.status = '{queued}'
    """
    params = [status, sent_at, *source_params, send_id, page]
    if postgres:
        prepared(sql, params)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _count(send_id: int, *, sent: int, failed: int, cancelled: int) -> bool:
    """One UPDATE per page, in the page's transaction, so the counters always match the rows. It returns the new
    counters (RETURNING: PostgreSQL and SQLite >= 3.35), which decide the auto-pause and whether this page may
    have been the last, without another query. True when every recipient is accounted for."""
    table = Send._meta.db_table
    sql = (
        f"UPDATE {table} SET sent = sent + %s, failed = failed + %s, cancelled = cancelled + %s, "
        "last_progress_at = %s WHERE id = %s RETURNING total, sent, failed, cancelled"
    )
    row = returning(sql, [sent, failed, cancelled, timezone.now(), send_id])
    if row is None:
        return False
    total, sent_now, failed_now, cancelled_now = row
    if failed:
        _auto_pause_if_needed(send_id, sent=sent_now, failed=failed_now)
    return bool(sent_now + failed_now + cancelled_now >= total)


def _auto_pause_if_needed(send_id: int, *, sent: int, failed: int) -> None:
    attempted = sent + failed
    threshold = float(settings.DELIVERY_ERROR_PAUSE_RATE)
    if threshold <= 0 or attempted < ERROR_PAUSE_MIN_ATTEMPTED or failed / attempted <= threshold:
        return
    reason = (
        f"Auto-paused: {failed} of {attempted} recipients failed ({failed / attempted:.0%}, "
        f"threshold {threshold:.0%}). Check the failures, then resume or retry them."
    )
    if Send.objects.filter(pk=send_id, status=SendStatus.SENDING).update(
        status=SendStatus.PAUSED, status_reason=reason[:500]
    ):
        logger.warning("send %s: %s", send_id, reason)
        publish_on_commit(send_id, "paused", reason)
