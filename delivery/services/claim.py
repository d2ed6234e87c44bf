"""Claiming a page: the Send's status and the page's queued rows, locked, in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection

from contacts.models import Contact
from delivery.models import Delivery, Send
from delivery.services.prepared import prepared

SendStatus = Send.Status
DeliveryStatus = Delivery.Status


# One statement claims a page on PostgreSQL: the Send's status and retry round, the page's advisory lock (taken
# only when the Send is sending), and the page's queued rows locked with SKIP LOCKED (read only when the lock was
# taken: the lateral subquery depends on it). The lock serialises work on one page across workers, so a page is
# always claimed whole (see the docstring of `delivery.services`). Taking it inside the statement is safe although
# the statement's snapshot is older than the lock: a row that a previous holder of the lock marked sent and
# committed is re-read at its newest version when FOR UPDATE locks it, and no longer matches `status = 'queued'`.
# The statuses are literals, not parameters, so the prepared statement's generic plan can use the partial index of
# queued rows.
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


class ClaimedRow(NamedTuple):
    """A queued Delivery row of the page and its contact's current values (None when the contact is gone)."""

    id: int
    contact_id: int
    email: str
    attempts: int
    contact_status: str | None
    first_name: str | None
    last_name: str | None
    mobile: str | None
    lms_lead_id: str | None


@dataclass(frozen=True)
class Claim:
    status: str | None  # the Send's status; None when there is no such Send
    retry_round: int = 0
    locked: bool = False
    rows: tuple[ClaimedRow, ...] = ()  # by id


def claim_page(send_id: int, page: int) -> Claim:
    """The Send's status and the page's queued rows, locked, in the caller's transaction."""
    if connection.vendor == "postgresql":
        sql = _CLAIM_SQL.format(
            send=Send._meta.db_table,
            delivery=Delivery._meta.db_table,
            contact=Contact._meta.db_table,
            sending=SendStatus.SENDING,
            queued=DeliveryStatus.QUEUED,
        )
        params = {
            "send_id": send_id,
            "key1": int(send_id) % 2**31,
            "key2": int(page) % 2**31,
            "page": page,
        }
        result = prepared(sql, params)
        if not result:
            return Claim(status=None)
        status, retry_round, locked = result[0][:3]
        # Without a lock (or a queued row) the lateral join gives one row of NULLs after the Send's columns.
        rows = tuple(ClaimedRow._make(r[3:]) for r in result if r[3] is not None)
        return Claim(status=status, retry_round=retry_round, locked=bool(locked), rows=rows)
    # SQLite: the IMMEDIATE transaction already serialises every writer (no advisory locks, no SKIP LOCKED).
    send = Send.objects.filter(pk=send_id).values_list("status", "retry_round", named=True).first()
    if send is None or send.status != SendStatus.SENDING:
        return Claim(status=send.status if send else None)
    sql = f"""
        SELECT d.id, d.contact_id, d.email, d.attempts, c.status, c.first_name, c.last_name, c.mobile, c.lms_lead_id
        FROM {Delivery._meta.db_table} d LEFT JOIN {Contact._meta.db_table} c ON c.id = d.contact_id
        WHERE d.send_id = %s AND d.page = %s AND d.status = %s
        ORDER BY d.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [send_id, page, DeliveryStatus.QUEUED])
        rows = tuple(ClaimedRow._make(row) for row in cursor.fetchall())
    return Claim(status=send.status, retry_round=send.retry_round, locked=True, rows=rows)
