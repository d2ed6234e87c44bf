"""Create a Send and snapshot its audience into Delivery rows (one set-based statement)."""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import Contact
from delivery.models import Delivery, Send
from delivery.services.lifecycle import cancel_queued_rows, fail_queued_rows, send_finish_if_complete
from delivery.services.notices import publish_on_commit
from delivery.services.window import enqueue_pages, enqueue_snapshot_rest, window_pages

logger = logging.getLogger("delivery.services")

SendStatus = Send.Status
DeliveryStatus = Delivery.Status
# The first key of `send_snapshot_rest`'s advisory lock (the page lock's first key is a send id, which never
# reaches this).
SNAPSHOT_LOCK_SPACE = 2**31 - 7


def send_create(
    *,
    label: str,
    subject: str,
    body_text: str = "",
    body_html: str = "",
    template_id: int | None = None,
    from_email: str = "",
    track_opens: bool = True,
    track_clicks: bool = True,
) -> Send:
    """`track_opens` / `track_clicks` are the owner's switches; the global settings (HERALD_TRACK_OPENS /
    HERALD_TRACK_CLICKS) win when off. The Send keeps the result, so a later change never alters it."""
    return Send.objects.create(
        label=label[:200],
        subject=subject[:300],
        body_text=body_text,
        body_html=body_html,
        template_id=template_id,
        from_email=from_email,
        track_opens=track_opens and bool(settings.HERALD_TRACK_OPENS),
        track_clicks=track_clicks and bool(settings.HERALD_TRACK_CLICKS),
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


def _insert(
    cursor: Any,
    *,
    send_id: int,
    audience_sql: str,
    audience_params: tuple[Any, ...],
    first_page: int,
    after: int | None = None,
    limit: int | None = None,
) -> tuple[int, int | None]:
    """INSERT ... SELECT the audience's subscribed contacts (with `id > after`, the first `limit` of them by id)
    as queued rows numbered from `first_page`. Returns (rows inserted, the highest contact id inserted)."""
    delivery_table = Delivery._meta.db_table
    contact_table = Contact._meta.db_table
    page_size = int(settings.DELIVERY_PAGE_SIZE)
    keyset = "AND c.id > %s" if after is not None else ""
    # ORDER BY + LIMIT only for the first part: the planner then walks the contacts' primary key and stops after
    # `limit` matches instead of writing the whole audience. Portable SQL (PostgreSQL and SQLite >= 3.25):
    # integer division numbers the pages first_page, first_page + 1, ...
    head = f"ORDER BY c.id LIMIT {int(limit)}" if limit is not None else ""
    sql = f"""
        INSERT INTO {delivery_table}
            (send_id, contact_id, email, page, status, provider_message_id, attempts, last_error)
        SELECT %s, c.id, c.email, %s + (ROW_NUMBER() OVER (ORDER BY c.id) - 1) / %s, %s, '', 0, ''
        FROM {contact_table} c
        WHERE c.status = %s {keyset} AND c.id IN ({audience_sql})
        {head}
        ON CONFLICT (send_id, contact_id) DO NOTHING
    """
    params: list[Any] = [send_id, first_page, page_size, DeliveryStatus.QUEUED, Contact.Status.SUBSCRIBED]
    if after is not None:
        params.append(after)
    if limit is None:
        cursor.execute(sql, (*params, *audience_params))
        return max(int(cursor.rowcount), 0), None
    cursor.execute(
        f"WITH ins AS ({sql} RETURNING contact_id) SELECT count(*), max(contact_id) FROM ins",
        (*params, *audience_params),
    )
    count, last = cursor.fetchone()
    return int(count), (None if last is None else int(last))


def first_part_rows() -> int:
    """Recipients written before the first page is released; 0 snapshots the whole audience in one statement.
    Two parts need PostgreSQL (the rest's audience is stored as SQL with its parameters inlined)."""
    rows = int(getattr(settings, "DELIVERY_SNAPSHOT_FIRST_ROWS", 0))
    return rows if rows > 0 and connection.vendor == "postgresql" else 0


def send_start(*, send_id: int, audience: QuerySet[Any]) -> int:
    """Snapshot `audience` (a QuerySet of contact ids) minus suppressed contacts into Delivery rows, set-based,
    then enqueue one task per page when the transaction commits.

    With `DELIVERY_SNAPSHOT_FIRST_ROWS` (PostgreSQL) the snapshot is in two parts, so the first emails do not wait
    for a large audience to be written: here, the first rows by contact id (one page: one `INSERT ... SELECT ...
    ORDER BY id LIMIT`); when the caller's transaction commits, page 0 goes to the broker and `send_snapshot_task`
    writes the rest (`send_snapshot_rest`: one `INSERT ... SELECT` of the ids above the first part's last one)
    while page 0 sends. Until then the Send holds the rest's audience (`snapshot_rest_sql`) and does not finish.

    Calling it twice snapshots once: only the call that moves the Send `pending -> sending` inserts.
    Returns the number of recipients snapshotted by this call (the first part's when the rest follows).
    """
    now = timezone.now()
    page_size = int(settings.DELIVERY_PAGE_SIZE)
    with transaction.atomic():
        moved = Send.objects.filter(pk=send_id, status=SendStatus.PENDING).update(
            status=SendStatus.SENDING, started_at=now, snapshot_at=now, last_progress_at=now
        )
        if not moved:
            return int(Send.objects.filter(pk=send_id).values_list("total", flat=True).first() or 0)
        audience_sql, audience_params = _audience_sql(audience)
        limit = first_part_rows() or None
        with connection.cursor() as cursor:
            total, last_id = _insert(
                cursor,
                send_id=send_id,
                audience_sql=audience_sql,
                audience_params=audience_params,
                first_page=0,
                limit=limit,
            )
        pages = math.ceil(total / page_size)
        first = min(pages, window_pages())
        if limit is not None and total >= limit:
            # More may follow: the rest is written after our commit. The audience is stored as one self-contained
            # statement (parameters inlined by the driver), so any worker (or the watchdog) can finish it.
            ops: Any = connection.ops  # PostgreSQL's (first_part_rows() is 0 elsewhere): psycopg's mogrify
            rest_sql = ops.compose_sql(audience_sql, audience_params)
            Send.objects.filter(pk=send_id).update(
                total=total, pages=pages, next_page=first, snapshot_rest_sql=rest_sql, snapshot_after=last_id
            )
            transaction.on_commit(lambda: enqueue_pages(send_id, range(first)))
            transaction.on_commit(lambda: enqueue_snapshot_rest(send_id))
            publish_on_commit(send_id, "started")
            logger.info("send %s: first %s recipients snapshotted; the rest follows", send_id, total)
            return total
        Send.objects.filter(pk=send_id).update(total=total, pages=pages, next_page=first)
        if total == 0:
            Send.objects.filter(pk=send_id, status=SendStatus.SENDING).update(status=SendStatus.DONE, finished_at=now)
            publish_on_commit(send_id, "started")
            publish_on_commit(send_id, "finished")
            return 0
        transaction.on_commit(lambda: enqueue_pages(send_id, range(first)))
        publish_on_commit(send_id, "started")
    logger.info("send %s: snapshot of %s recipients in %s pages", send_id, total, pages)
    return total


def _snapshot_lock(cursor: Any, send_id: int) -> bool:
    """One writer of a Send's rest at a time (a duplicate task, the watchdog's re-enqueue): a transaction-level
    advisory lock in its own key space (the pages lock (send, page) pairs), so it is released by a crash too.
    Not a row lock on the Send: every page's transaction updates that row, and page 0 would wait for us."""
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [SNAPSHOT_LOCK_SPACE, int(send_id) % 2**31])
    return bool(cursor.fetchone()[0])


def send_snapshot_rest(*, send_id: int) -> int:
    """Write the rest of a two-part snapshot (see `send_start`) in one transaction: one `INSERT ... SELECT` of the
    audience's contacts above the first part's last id, pages numbered after the first part's; then the Send's
    total and pages, the window's next pages, and the end of the snapshot (`snapshot_rest_sql` cleared), all in the
    same commit. A crash anywhere rolls all of it back and leaves the Send as the first part left it, so running it
    again (the task's redelivery, the watchdog) writes each recipient once. Returns the rows written (0 when there
    was nothing to do or another worker holds it).

    Whatever the Send's status meanwhile: paused, the pages wait for resume; cancelled or failed, the new rows are
    cancelled or failed with the rest (the totals still add up).
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            if not _snapshot_lock(cursor, send_id):
                return 0
            row = (
                Send.objects.filter(pk=send_id)
                .exclude(snapshot_rest_sql="")
                .values_list("snapshot_rest_sql", "snapshot_after", "pages")
                .first()
            )
            if row is None:
                return 0
            rest_sql, after, first_page = row
            count, _ = _insert(
                cursor,
                send_id=send_id,
                audience_sql=rest_sql.replace("%", "%%"),
                audience_params=(),
                first_page=int(first_page),
                after=int(after) if after is not None else 0,
            )
            new_pages = math.ceil(count / int(settings.DELIVERY_PAGE_SIZE))
            table = Send._meta.db_table
            # One statement under the Send's row lock (held only from here to the commit): the counters move, the
            # window opens up to its size when sending, the snapshot ends. `o` is the row before the update.
            cursor.execute(
                f"""UPDATE {table} s SET total = s.total + %s, pages = s.pages + %s,
                       next_page = CASE WHEN s.status = %s
                                        THEN GREATEST(s.next_page, LEAST(s.pages + %s, %s)) ELSE s.next_page END,
                       snapshot_rest_sql = '', snapshot_after = NULL, last_progress_at = %s
                   FROM (SELECT id, next_page FROM {table} WHERE id = %s FOR UPDATE) o
                   WHERE s.id = o.id
                   RETURNING s.status, o.next_page, s.next_page, s.status_reason""",
                [count, new_pages, SendStatus.SENDING, new_pages, window_pages(), timezone.now(), send_id],
            )
            status, old_next, new_next, reason = cursor.fetchone()
        if status == SendStatus.CANCELLED:
            cancel_queued_rows(send_id)  # cancelled while we wrote: our rows are cancelled with the rest
        elif status == SendStatus.FAILED:
            fail_queued_rows(send_id, reason or "Send failed")
        elif new_next > old_next:
            transaction.on_commit(functools.partial(enqueue_pages, send_id, range(old_next, new_next)))
    logger.info("send %s: the rest of the snapshot, %s recipients", send_id, count)
    # Page 0 (and every page) may have committed before us, when the Send could not finish yet.
    send_finish_if_complete(send_id=send_id)
    return count
