"""The send engine: snapshot an audience into Delivery rows, send them page by page, exactly once.

Why every recipient gets exactly one email, even when workers are SIGKILLed at any moment
-----------------------------------------------------------------------------------------
1. The Delivery rows are the truth. `send_start` writes them once (one `INSERT ... SELECT ... ON CONFLICT DO
   NOTHING`, behind a conditional `pending -> sending` update), each with its page number.
2. `page_send` does a whole page in ONE database transaction: it takes the page's advisory lock (PostgreSQL; on
   SQLite the IMMEDIATE transaction serialises writers), locks the page's `queued` rows with
   `SELECT ... FOR UPDATE SKIP LOCKED` (on PostgreSQL one statement reads the Send's status, takes the lock and
   claims the rows), renders, waits for the shared rate limiter, makes ONE provider call, marks
   the rows `sent`/`failed` and bumps the Send's counters, then commits. A committed row is never `sending`:
   that state exists only inside the open transaction, so there is no lease to expire and nothing to recover.
3. If the process dies anywhere before the commit, PostgreSQL rolls the transaction back: the rows are `queued`
   again, exactly as before. The page's task message is redelivered (late ack) or re-enqueued by `watchdog`.
4. The provider call carries an Idempotency-Key derived only from (send, page, retry_round, the ids of the rows
   claimed), and the emails render byte-identically on every attempt (tokens carry no timestamp). So the
   replay of a call the provider already accepted before the crash is answered from the provider's idempotency
   store instead of being sent again. The only crash window that could duplicate is a crash after the provider
   accepted AND more than 24 hours (Resend's key retention) before the retry; the watchdog retries within minutes.
5. Because the whole page is claimed under one lock, the set of ids (and so the key) of a retried page is the set
   of the attempt that crashed: rows are only removed from `queued` by a committed page, a cancel, or a retry
   round (which changes `retry_round` and so the key on purpose, since those rows failed and were not sent).
   A contact who unsubscribes (or is edited) between a crashed attempt and its retry changes the page's payload
   but not its key; the provider then refuses the changed payload (409) and the page is marked failed with that
   reason instead of being sent a second time.
The `outbox` transport writes its rows inside the same transaction, so it is exactly-once by construction; SMTP
has no idempotency, so with `smtp` a crash between the server's accept and our commit can resend one page.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import random
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from contacts.models import Contact
from delivery import events
from delivery.compose import Recipient, compose_page
from delivery.models import Delivery, Send
from delivery.ratelimit import HourlyCapReached, get_limiter
from delivery.transports import (
    OutgoingEmail,
    PermanentError,
    SendResult,
    TransientError,
    Transport,
    get_transport,
)
from templates_app.rendering import RenderedEmail, TemplateError

logger = logging.getLogger(__name__)

S = Send.Status
D = Delivery.Status

# The auto-pause judges the error rate only once this many recipients were attempted, so one bad address among
# the first few does not stop a campaign.
ERROR_PAUSE_MIN_ATTEMPTED = 50
# Backoff for 5xx and network errors: 2, 4, 8 ... seconds, capped.
BACKOFF_CAP_SECONDS = 60.0
# A sending Send with no committed page for this long is presumed to have lost its page messages. Longer than the
# slowest healthy page (rate-limiter wait + provider timeout), short enough that a crash costs under a minute.
WATCHDOG_STALE_SECONDS = 45.0
# Pages of one Send waiting in the broker at once (DELIVERY_WINDOW_PAGES overrides): a few per worker process.
DEFAULT_WINDOW_PAGES = 32


class SendStateError(Exception):
    """The requested lifecycle change does not apply to the Send's current status."""


# --- create and snapshot -------------------------------------------------------------------------------------


def send_create(
    *,
    label: str,
    subject: str,
    body_text: str = "",
    body_html: str = "",
    template_id: int | None = None,
    from_email: str = "",
) -> Send:
    return Send.objects.create(
        label=label[:200],
        subject=subject[:300],
        body_text=body_text,
        body_html=body_html,
        template_id=template_id,
        from_email=from_email,
    )


def _audience_sql(audience: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The audience as a SQL subquery of contact ids (it must select exactly one column)."""
    if audience.query.values_select and len(audience.query.values_select) != 1:
        raise ValueError("The audience must be a QuerySet of contact ids (values_list('id', flat=True)).")
    if not audience.query.values_select:
        audience = audience.values("pk")
    try:
        sql, params = audience.query.sql_with_params()
    except EmptyResultSet:  # e.g. `.none()` or `pk__in=[]`: Django refuses to compile a query that matches nothing
        return "SELECT 0 WHERE 1 = 0", ()
    return sql, tuple(params)


def send_start(*, send_id: int, audience: QuerySet[Any]) -> int:
    """Snapshot `audience` (a QuerySet of contact ids) minus suppressed contacts into Delivery rows with one
    set-based statement, then enqueue one task per page when the transaction commits.

    Calling it twice snapshots once: only the call that moves the Send `pending -> sending` inserts.
    Returns the number of recipients.
    """
    now = timezone.now()
    page_size = int(settings.DELIVERY_PAGE_SIZE)
    with transaction.atomic():
        moved = Send.objects.filter(pk=send_id, status=S.PENDING).update(
            status=S.SENDING, started_at=now, snapshot_at=now, last_progress_at=now
        )
        if not moved:
            return int(Send.objects.filter(pk=send_id).values_list("total", flat=True).first() or 0)
        audience_sql, audience_params = _audience_sql(audience)
        delivery_table = Delivery._meta.db_table
        contact_table = Contact._meta.db_table
        # Portable SQL (PostgreSQL and SQLite >= 3.25): integer division numbers the pages 0, 1, 2 ...
        sql = f"""
            INSERT INTO {delivery_table}
                (send_id, contact_id, email, page, status, provider_message_id, attempts, last_error)
            SELECT %s, c.id, c.email, (ROW_NUMBER() OVER (ORDER BY c.id) - 1) / %s, %s, '', 0, ''
            FROM {contact_table} c
            WHERE c.status = %s AND c.id IN ({audience_sql})
            ON CONFLICT (send_id, contact_id) DO NOTHING
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, (send_id, page_size, D.QUEUED, Contact.Status.SUBSCRIBED, *audience_params))
            total = max(cursor.rowcount, 0)
        pages = math.ceil(total / page_size)
        first = min(pages, window_pages())
        Send.objects.filter(pk=send_id).update(total=total, pages=pages, next_page=first)
        if total == 0:
            Send.objects.filter(pk=send_id, status=S.SENDING).update(status=S.DONE, finished_at=now)
            _publish_on_commit(send_id, "started")
            _publish_on_commit(send_id, "finished")
            return 0
        transaction.on_commit(lambda: _enqueue_pages(send_id, range(first)))
        _publish_on_commit(send_id, "started")
    logger.info("send %s: snapshot of %s recipients in %s pages", send_id, total, pages)
    return total


def _publish_on_commit(send_id: int, event: events.SendEvent, reason: str = "") -> None:
    transaction.on_commit(lambda: events.publish(send_id=send_id, event=event, reason=reason))


def _enqueue_pages(send_id: int, pages: Any) -> int:
    """One message per page over one broker connection (10k pages for 1M recipients take a few seconds)."""
    from delivery.tasks import page_send_task

    count = 0
    with page_send_task.app.producer_or_acquire() as producer:
        for page in pages:
            page_send_task.apply_async(args=(send_id, int(page)), producer=producer)
            count += 1
    return count


def window_pages() -> int:
    """How many pages of one Send may wait in the broker at once. Enough to keep every worker busy; small
    enough that a send started later (or an automation's) is not queued behind a whole large send."""
    return max(1, int(getattr(settings, "DELIVERY_WINDOW_PAGES", DEFAULT_WINDOW_PAGES)))


def _queued_pages(send_id: int, *, below: int | None = None) -> list[int]:
    rows = Delivery.objects.filter(send_id=send_id, status=D.QUEUED)
    if below is not None:
        rows = rows.filter(page__lt=below)
    return list(rows.order_by("page").values_list("page", flat=True).distinct())


def _refill_window(send_id: int) -> list[int]:
    """The pages to (re-)enqueue for a Send being resumed or repaired: the released pages that still have
    queued rows (their messages were consumed while paused, or lost with a killed worker), plus as many new
    pages as the window has room for. Runs in the caller's transaction, which must hold the Send's row lock."""
    send = Send.objects.filter(pk=send_id).values_list("next_page", "pages").first()
    if send is None:
        return []
    next_page, pages = send
    released = _queued_pages(send_id, below=next_page)
    room = max(0, window_pages() - len(released))
    new_next = min(pages, next_page + room)
    if new_next > next_page:
        Send.objects.filter(pk=send_id).update(next_page=new_next)
    return released + list(range(next_page, new_next))


def _release_next_page(send_id: int) -> None:
    """A page committed its rows: hand the broker the next unreleased page (in the same transaction, so the
    window only moves when work was really done; the message goes out when it commits)."""
    table = Send._meta.db_table
    row = _returning(
        f"UPDATE {table} SET next_page = next_page + 1 WHERE id = %s AND next_page < pages RETURNING next_page",
        [send_id],
    )
    if row is not None:
        page = int(row[0]) - 1
        transaction.on_commit(lambda: _enqueue_pages(send_id, [page]))


# --- one page ------------------------------------------------------------------------------------------------


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


# Django opens psycopg connections with prepared statements off (`prepare_threshold=None`) and client-side
# binding. The page path's few statements run thousands of times per send, so they are prepared on purpose: a
# threshold no query reaches leaves every other query as Django runs it, while `prepare=True` prepares ours.
_NEVER_AUTO_PREPARE = 2**31 - 1


def _prepared(sql: str, params: Any) -> list[tuple[Any, ...]]:
    """Run one of the page path's statements on PostgreSQL as a server-side prepared statement, in the caller's
    transaction (the same connection Django uses). PostgreSQL parses and plans it once per connection instead of
    once per page (the claim's plan cost more than running it), and the id and value arrays travel as typed
    parameters instead of SQL literals. Errors are Django's (OperationalError ...), as from any other query.
    Returns the rows, if the statement returns any."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _NEVER_AUTO_PREPARE
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        # Off behind a transaction-pooling PgBouncer older than 1.21, which cannot route prepared statements.
        cursor.execute(sql, params, prepare=settings.DELIVERY_PREPARED_STATEMENTS)
        return cursor.fetchall() if cursor.description else []


def _returning(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """The first row of an `UPDATE ... RETURNING` (prepared on PostgreSQL, see `_prepared`)."""
    if connection.vendor == "postgresql":
        rows = _prepared(sql, params)
        return rows[0] if rows else None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


# One statement claims a page on PostgreSQL: the Send's status and retry round, the page's advisory lock (taken
# only when the Send is sending), and the page's queued rows locked with SKIP LOCKED (read only when the lock was
# taken: the lateral subquery depends on it). The lock serialises work on one page across workers, so a page is
# always claimed whole (see the module docstring). Taking it inside the statement is safe although the statement's
# snapshot is older than the lock: a row that a previous holder of the lock marked sent and committed is re-read
# at its newest version when FOR UPDATE locks it, and no longer matches `status = 'queued'`. The statuses are
# literals, not parameters, so the prepared statement's generic plan can use the partial index of queued rows.
_CLAIM_SQL = """
    WITH s AS (SELECT id, status, retry_round FROM {send} WHERE id = %(send_id)s::bigint),
    lk AS (SELECT pg_try_advisory_xact_lock(%(key1)s::int, %(key2)s::int) AS ok FROM s WHERE s.status = '{sending}')
    SELECT s.status, s.retry_round, lk.ok,
           r.id, r.contact_id, r.email, r.attempts, r.contact_status, r.first_name, r.last_name, r.mobile, r.lms_lead_id
    FROM s
    LEFT JOIN lk ON TRUE
    LEFT JOIN LATERAL (
        SELECT d.id, d.contact_id, d.email, d.attempts, c.status AS contact_status,
               c.first_name, c.last_name, c.mobile, c.lms_lead_id
        FROM {delivery} d LEFT JOIN {contact} c ON c.id = d.contact_id
        WHERE lk.ok AND d.send_id = s.id AND d.page = %(page)s::int AND d.status = '{queued}'
        ORDER BY d.id
        FOR UPDATE OF d SKIP LOCKED
    ) r ON TRUE
"""


@dataclass(frozen=True)
class _Claim:
    status: str | None  # the Send's status; None when there is no such Send
    retry_round: int = 0
    locked: bool = False
    # (id, contact_id, email, attempts, contact status, first_name, last_name, mobile, lms_lead_id), by id
    rows: tuple[tuple[Any, ...], ...] = ()


def _claim_page(send_id: int, page: int) -> _Claim:
    """The Send's status and the page's queued rows, locked, in the caller's transaction."""
    if connection.vendor == "postgresql":
        sql = _CLAIM_SQL.format(
            send=Send._meta.db_table,
            delivery=Delivery._meta.db_table,
            contact=Contact._meta.db_table,
            sending=S.SENDING,
            queued=D.QUEUED,
        )
        params = {
            "send_id": send_id,
            "key1": int(send_id) % 2**31,
            "key2": int(page) % 2**31,
            "page": page,
        }
        result = _prepared(sql, params)
        if not result:
            return _Claim(status=None)
        status, retry_round, locked = result[0][:3]
        rows = tuple(r[3:] for r in result if r[3] is not None)
        return _Claim(status=status, retry_round=retry_round, locked=bool(locked), rows=rows)
    # SQLite: the IMMEDIATE transaction already serialises every writer (no advisory locks, no SKIP LOCKED).
    send = Send.objects.filter(pk=send_id).values_list("status", "retry_round").first()
    if send is None or send[0] != S.SENDING:
        return _Claim(status=send[0] if send else None)
    sql = f"""
        SELECT d.id, d.contact_id, d.email, d.attempts, c.status, c.first_name, c.last_name, c.mobile, c.lms_lead_id
        FROM {Delivery._meta.db_table} d LEFT JOIN {Contact._meta.db_table} c ON c.id = d.contact_id
        WHERE d.send_id = %s AND d.page = %s AND d.status = %s
        ORDER BY d.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [send_id, page, D.QUEUED])
        rows = tuple(tuple(row) for row in cursor.fetchall())
    return _Claim(status=send[0], retry_round=send[1], locked=True, rows=rows)


_SEND_CACHE_SIZE = 32
_sends: OrderedDict[int, Send] = OrderedDict()
_sends_lock = threading.Lock()  # a threads pool shares the cache between its workers


def _send_content(send_id: int) -> Send:
    """The Send's content and sender, read once per process: they do not change once a Send has started
    (its status and retry round, which do, come fresh with every claim)."""
    with _sends_lock:
        send = _sends.get(send_id)
        if send is not None:
            _sends.move_to_end(send_id)
            return send
    send = Send.objects.select_related("template").get(pk=send_id)
    with _sends_lock:
        _sends[send_id] = send
        while len(_sends) > _SEND_CACHE_SIZE:
            _sends.popitem(last=False)
    return send


def _send_status(send_id: int) -> str | None:
    # A fresh statement: under READ COMMITTED it sees a pause or cancel committed a moment ago.
    return Send.objects.filter(pk=send_id).values_list("status", flat=True).first()


def _backoff(attempts: int) -> float:
    return min(BACKOFF_CAP_SECONDS, 2.0 ** max(1, attempts)) * (0.75 + random.random() / 2)


def page_send(*, send_id: int, page: int) -> PageOutcome:
    """Send one page of a Send in one transaction (see the module docstring for why this is exactly-once)."""
    transport = get_transport()
    with transaction.atomic():
        claim = _claim_page(send_id, page)
        if claim.status != S.SENDING:
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


def _send_rows(
    send: Send, retry_round: int, page: int, rows: list[tuple[Any, ...]], transport: Transport
) -> PageOutcome:
    now = timezone.now()
    key = idempotency_key(send_id=send.pk, page=page, retry_round=retry_round, delivery_ids=[r[0] for r in rows])
    # Contacts who unsubscribed (or bounced) after the snapshot get nothing more; nor does a row whose contact is
    # gone (the LEFT JOIN gave no status).
    suppressed = [r[0] for r in rows if r[4] != Contact.Status.SUBSCRIBED]
    recipients = [
        Recipient(
            delivery_id=r[0],
            contact_id=r[1],
            email=r[2],
            first_name=r[5],
            last_name=r[6],
            mobile=r[7],
            lms_lead_id=r[8],
        )
        for r in rows
        if r[4] == Contact.Status.SUBSCRIBED
    ]
    attempts_by_id = {r[0]: r[3] for r in rows}
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
        if waited > 0 and _send_status(send.pk) != S.SENDING:
            return PageOutcome(status="stopped")  # paused or cancelled while we waited for the rate limiter
        try:
            results = transport.send_batch(emails, idempotency_key=key)
        except TransientError as exc:
            return _transient(send, page, rows, attempts_by_id, exc)
        except PermanentError as exc:
            results = [SendResult(error=str(exc)[:500]) for _ in emails]
    return _record(send, page, recipients, results, suppressed, now)


def _transient(
    send: Send, page: int, rows: list[tuple[Any, ...]], attempts_by_id: dict[int, int], exc: TransientError
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
        failed = Delivery.objects.filter(pk__in=ids, status=D.QUEUED).update(
            status=D.FAILED, attempts=F("attempts") + 1, last_error=f"Gave up after {attempts} attempts: {reason}"
        )
        complete = _count(send.pk, sent=0, failed=failed, cancelled=0)
        _release_next_page(send.pk)
        return PageOutcome(status="gave-up", failed=failed, complete=complete)
    Delivery.objects.filter(pk__in=ids, status=D.QUEUED).update(attempts=F("attempts") + 1, last_error=reason)
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
    sent_rows: list[tuple[int, str]] = []
    failed_rows: list[tuple[int, str]] = []
    for recipient, result in zip(recipients, results, strict=True):
        if result.sent:
            sent_rows.append((recipient.delivery_id, result.provider_message_id[:100]))
        elif not result.retry:
            failed_rows.append((recipient.delivery_id, result.error[:500]))
        # result.retry (SMTP's broken connection): the row stays queued for the page's next run.
    sent, failed = len(sent_rows), len(failed_rows)
    _update_rows(sent_rows, send_id=send.pk, page=page, status=D.SENT, column="provider_message_id", sent_at=now)
    _update_rows(failed_rows, send_id=send.pk, page=page, status=D.FAILED, column="last_error", sent_at=None)
    cancelled = 0
    if suppressed:
        cancelled = Delivery.objects.filter(pk__in=suppressed, status=D.QUEUED).update(
            status=D.CANCELLED, last_error="Contact no longer subscribed"
        )
    complete = _count(send.pk, sent=sent, failed=failed, cancelled=cancelled)
    retry_left = any(r.retry for r in results)
    if not retry_left:
        _release_next_page(send.pk)
    return PageOutcome(
        status="sent", sent=sent, failed=failed, retry_in=_backoff(1) if retry_left else None, complete=complete
    )


def _update_rows(
    rows: list[tuple[int, str]], *, send_id: int, page: int, status: str, column: str, sent_at: datetime | None
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
    ids = [row[0] for row in rows]
    vals = [row[1] for row in rows]
    postgres = connection.vendor == "postgresql"
    if postgres:
        source = "unnest(%b::bigint[], %b::text[]) AS v(id, val)"  # binary arrays: no text quoting per element
        source_params: list[Any] = [ids, vals]
    else:
        source = "(SELECT column1 AS id, column2 AS val FROM (VALUES " + ", ".join(["(%s, %s)"] * len(rows)) + ")) AS v"
        source_params = [x for row in rows for x in row]
    sql = f"""
        UPDATE {table} SET status = %s, {column} = v.val, {other}, sent_at = %s, attempts = {table}.attempts + 1
        FROM {source}
        WHERE {table}.id = v.id AND {table}.send_id = %s AND {table}.page = %s AND {table}.status = '{D.QUEUED}'
    """
    params = [status, sent_at, *source_params, send_id, page]
    if postgres:
        _prepared(sql, params)
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
    row = _returning(sql, [sent, failed, cancelled, timezone.now(), send_id])
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
    if Send.objects.filter(pk=send_id, status=S.SENDING).update(status=S.PAUSED, status_reason=reason[:500]):
        logger.warning("send %s: %s", send_id, reason)
        _publish_on_commit(send_id, "paused", reason)


def send_finish_if_complete(*, send_id: int, trust_counters: bool = True) -> bool:
    """Close a `sending` Send once none of its rows is queued. Called after each page commits: the last page
    to commit sees every other page's commit, so exactly one caller (or the watchdog) closes it."""
    # The counters move in each page's transaction, so they say cheaply whether a row can still be queued.
    if (
        trust_counters
        and not Send.objects.filter(
            pk=send_id, status=S.SENDING, total__lte=F("sent") + F("failed") + F("cancelled")
        ).exists()
    ):
        return False
    with transaction.atomic():
        # Committed rows are never `sending` (that state lives only inside a page's transaction).
        if Delivery.objects.filter(send_id=send_id, status=D.QUEUED).exists():
            return False
        now = timezone.now()
        if not Send.objects.filter(pk=send_id, status=S.SENDING).update(
            status=S.DONE, finished_at=now, last_progress_at=now
        ):
            return False
        _publish_on_commit(send_id, "finished")
    logger.info("send %s: finished", send_id)
    return True


def contact_deleting(*, contact_id: int) -> None:
    """A deleted contact takes its Delivery rows with it (Django's cascade; the rows hold the email address).
    Its rows still queued count as cancelled first, so each send's counters still add up to its total and the
    send closes as usual instead of waiting for the watchdog. Runs inside the delete's transaction; the lock
    waits for a page that has claimed one of the rows, after which that row is no longer queued."""
    queued = list(
        Delivery.objects.select_for_update()
        .filter(contact_id=contact_id, status=D.QUEUED)
        .order_by("id")
        .values_list("send_id", flat=True)
    )
    for send_id in sorted(set(queued)):
        Send.objects.filter(pk=send_id).update(cancelled=F("cancelled") + queued.count(send_id))
        transaction.on_commit(functools.partial(send_finish_if_complete, send_id=send_id))


# --- lifecycle -----------------------------------------------------------------------------------------------


def send_pause(*, send_id: int, reason: str = "") -> bool:
    """Stop sending within a second: page tasks check the status inside their transaction. True if it changed."""
    with transaction.atomic():
        changed = Send.objects.filter(pk=send_id, status__in=(S.SENDING, S.PENDING)).update(
            status=S.PAUSED, status_reason=(reason or "Paused")[:500]
        )
        if changed:
            _publish_on_commit(send_id, "paused", reason)
    return bool(changed)


def send_resume(*, send_id: int) -> int:
    """Continue a paused Send: re-enqueue its released pages that still have queued rows and refill the window.
    Returns the number of pages enqueued."""
    with transaction.atomic():
        send = Send.objects.select_for_update().filter(pk=send_id).first()
        if send is None or send.status != S.PAUSED:
            return 0
        if send.started_at is None:
            # Paused before the snapshot ran: it goes back to pending; the caller's send_start does the rest.
            Send.objects.filter(pk=send_id).update(status=S.PENDING, status_reason="")
            return 0
        Send.objects.filter(pk=send_id, status=S.PAUSED).update(
            status=S.SENDING, status_reason="", last_progress_at=timezone.now()
        )
        pages = _refill_window(send_id)
        transaction.on_commit(lambda: _enqueue_pages(send_id, pages))
        _publish_on_commit(send_id, "resumed")
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
        changed = Send.objects.filter(pk=send_id, status__in=(S.SENDING, S.PAUSED)).update(
            status=S.FAILED, status_reason=reason, finished_at=timezone.now()
        )
        if changed:
            _publish_on_commit(send_id, "failed", reason)
    if not changed:
        return 0
    logger.warning("send %s: failed: %s", send_id, reason)
    return _fail_queued_rows(send_id, reason)


def _fail_queued_rows(send_id: int, reason: str) -> int:
    with transaction.atomic():
        count = Delivery.objects.filter(send_id=send_id, status=D.QUEUED).update(
            status=D.FAILED, attempts=F("attempts") + 1, last_error=reason[:500]
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
        changed = Send.objects.filter(pk=send_id, status__in=(S.PENDING, S.SENDING, S.PAUSED)).update(
            status=S.CANCELLED, status_reason=(reason or "Cancelled")[:500], finished_at=timezone.now()
        )
        if changed:
            _publish_on_commit(send_id, "cancelled", reason)
    return _cancel_queued_rows(send_id)


def _cancel_queued_rows(send_id: int) -> int:
    with transaction.atomic():
        count = Delivery.objects.filter(send_id=send_id, status=D.QUEUED).update(
            status=D.CANCELLED, last_error="Send cancelled"
        )
        if count:
            Send.objects.filter(pk=send_id).update(cancelled=F("cancelled") + count)
    return count


def send_retry_failed(*, send_id: int) -> int:
    """Queue the failed rows again in a new retry round (new Idempotency-Keys: those rows were never sent).
    Returns the number of rows queued again."""
    with transaction.atomic():
        send = Send.objects.select_for_update().filter(pk=send_id).first()
        if send is None or send.status not in (S.DONE, S.PAUSED, S.FAILED, S.SENDING):
            return 0
        count = Delivery.objects.filter(send_id=send_id, status=D.FAILED).update(
            status=D.QUEUED, attempts=0, last_error=""
        )
        if not count:
            return 0
        Send.objects.filter(pk=send_id).update(
            status=S.SENDING,
            status_reason="",
            failed=F("failed") - count,
            retry_round=F("retry_round") + 1,
            finished_at=None,
            last_progress_at=timezone.now(),
        )
        # The failed rows are on released pages; every such page goes out again, plus the window's room.
        pages = _refill_window(send_id)
        transaction.on_commit(lambda: _enqueue_pages(send_id, pages))
        _publish_on_commit(send_id, "resumed")
    return count


def watchdog(*, now: datetime | None = None, stale_after: float | None = None) -> int:
    """Repair what crashes leave behind; called by the scheduler tick. Returns the number of pages re-enqueued.

    - A `sending` Send with no progress for `stale_after` seconds (its page messages were lost with a killed
      worker: Redis redelivers unacked messages only after the visibility timeout) gets its released queued
      pages again and a full window. Duplicated messages are harmless: a page with no queued rows is a no-op.
    - A `sending` Send with no queued row left (the finishing worker died after its commit) is closed.
    - A `cancelled` Send with queued rows left (died between the two steps of a cancel) has them cancelled;
      a `failed` one (died between the two steps of `send_fail`) has them failed.
    """
    now = now or timezone.now()
    if stale_after is None:
        stale_after = float(getattr(settings, "DELIVERY_WATCHDOG_SECONDS", WATCHDOG_STALE_SECONDS))
    stale = now - timedelta(seconds=stale_after)
    enqueued = 0
    for send_id, seen in Send.objects.filter(status=S.SENDING, last_progress_at__lt=stale).values_list(
        "pk", "last_progress_at"
    ):
        pages: list[int] = []
        with transaction.atomic():
            # Conditional on the value we read, so two ticks never both re-enqueue the same stall.
            if not Send.objects.filter(pk=send_id, status=S.SENDING, last_progress_at=seen).update(
                last_progress_at=now
            ):
                continue
            pages = _refill_window(send_id)
            if pages:
                transaction.on_commit(functools.partial(_enqueue_pages, send_id, pages))
                enqueued += len(pages)
                logger.warning("watchdog: send %s stalled, re-enqueued %s pages", send_id, len(pages))
        if not pages:
            send_finish_if_complete(send_id=send_id, trust_counters=False)
    leftovers = Send.objects.filter(status=S.CANCELLED, finished_at__gte=now - timedelta(days=1)).filter(
        Exists(Delivery.objects.filter(send_id=OuterRef("pk"), status=D.QUEUED))
    )
    for send_id in leftovers.values_list("pk", flat=True):
        _cancel_queued_rows(send_id)
    failed_leftovers = Send.objects.filter(status=S.FAILED, finished_at__gte=now - timedelta(days=1)).filter(
        Exists(Delivery.objects.filter(send_id=OuterRef("pk"), status=D.QUEUED))
    )
    for send_id, reason in failed_leftovers.values_list("pk", "status_reason"):
        _fail_queued_rows(send_id, reason)  # died between the two steps of send_fail
    return enqueued


# --- unsubscribe ---------------------------------------------------------------------------------------------


def unsubscribe_by_token(*, token: str) -> bool | None:
    """Unsubscribe the contact a signed unsubscribe token names. None when the token is forged or edited (nothing
    changes); else whether this call changed the contact (a second click is a harmless no-op)."""
    from contacts import services as contact_services
    from delivery.tokens import UNSUBSCRIBE_SALT, token_read

    data = token_read(token=token, salt=UNSUBSCRIBE_SALT)
    if data is None:
        return None
    return contact_services.contact_unsubscribe(contact_id=data.contact_id)


def template_test_sender(email: RenderedEmail, to: str, from_email: str) -> str:
    """Send one rendered test email through the configured transport; returns the provider's id (or "sent").

    Registered with `templates_app.services.register_test_sender` in `DeliveryConfig.ready`. A fresh key each
    time: two test sends of the same template are two emails.
    """
    outgoing = OutgoingEmail(
        delivery_id=None, to=to, from_email=from_email, subject=email.subject, html=email.html, text=email.text
    )
    result = get_transport().send_batch([outgoing], idempotency_key=f"test-{uuid.uuid4()}")[0]
    if not result.sent:
        raise RuntimeError(result.error or "the provider is temporarily unavailable, try again")
    return result.provider_message_id or "sent"
