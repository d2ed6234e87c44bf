"""Create a Send and snapshot its audience into Delivery rows (one set-based statement)."""

from __future__ import annotations

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
from delivery.services.lifecycle import publish_on_commit
from delivery.services.window import enqueue_pages, window_pages

logger = logging.getLogger("delivery.services")

SendStatus = Send.Status
DeliveryStatus = Delivery.Status


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


def send_start(*, send_id: int, audience: QuerySet[Any]) -> int:
    """Snapshot `audience` (a QuerySet of contact ids) minus suppressed contacts into Delivery rows with one
    set-based statement, then enqueue one task per page when the transaction commits.

    Calling it twice snapshots once: only the call that moves the Send `pending -> sending` inserts.
    Returns the number of recipients.
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
            cursor.execute(
                sql, (send_id, page_size, DeliveryStatus.QUEUED, Contact.Status.SUBSCRIBED, *audience_params)
            )
            total = max(int(cursor.rowcount), 0)
        pages = math.ceil(total / page_size)
        first = min(pages, window_pages())
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
