"""The window of a Send's pages in the broker: a few pages at a time, each committed page releasing the next."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from delivery.models import Delivery, Send
from delivery.services.prepared import returning

DeliveryStatus = Delivery.Status


def enqueue_pages(send_id: int, pages: Any) -> int:
    """One message per page over one broker connection (10k pages for 1M recipients take a few seconds)."""
    from delivery.tasks import page_send_task

    count = 0
    with page_send_task.app.producer_or_acquire() as producer:
        for page in pages:
            page_send_task.apply_async(args=(send_id, int(page)), producer=producer)
            count += 1
    return count


def enqueue_snapshot_rest(send_id: int) -> None:
    """The rest of a two-part snapshot (`snapshot.send_snapshot_rest`), at the default priority like a first page."""
    from delivery.tasks import send_snapshot_task

    send_snapshot_task.delay(send_id)


def window_pages() -> int:
    """How many pages of one Send may wait in the broker at once. Enough to keep every worker busy; small
    enough that a send started later (or an automation's) is not queued behind a whole large send."""
    return max(1, int(settings.DELIVERY_WINDOW_PAGES))


def _queued_pages(send_id: int, *, below: int | None = None) -> list[int]:
    rows = Delivery.objects.filter(send_id=send_id, status=DeliveryStatus.QUEUED)
    if below is not None:
        rows = rows.filter(page__lt=below)
    return list(rows.order_by("page").values_list("page", flat=True).distinct())


def refill_window(send_id: int) -> list[int]:
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


def release_next_page(send_id: int) -> None:
    """A page committed its rows: hand the broker the next unreleased page (in the same transaction, so the
    window only moves when work was really done; the message goes out when it commits)."""
    table = Send._meta.db_table
    row = returning(
        f"UPDATE {table} SET next_page = next_page + 1 WHERE id = %s AND next_page < pages RETURNING next_page",
        [send_id],
    )
    if row is not None:
        page = int(row[0]) - 1
        transaction.on_commit(lambda: enqueue_pages(send_id, [page]))
