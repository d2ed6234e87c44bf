"""A two-part snapshot under SIGKILL: the worker dies while writing the rest of the audience (its INSERT held on a
lock the test controls), the first page has already gone out, and after a restart every recipient gets exactly one
email."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection

from contacts.models import Contact
from delivery import services
from delivery.models import Delivery, Send
from tests.e2e.conftest import _database_url
from tests.e2e.test_engine_send import make_contacts, wait_done

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _rest_insert_waiting() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%%INSERT INTO delivery_delivery%%' AND query LIKE '%%c.id >%%'"
        )
        return bool(cursor.fetchone()[0])


def _wait(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_sigkill_while_the_rest_of_the_snapshot_is_written_after_page_zero_went_out_loses_and_duplicates_nothing(
    settings, celery_worker, fake_resend
) -> None:
    settings.DELIVERY_SNAPSHOT_FIRST_ROWS = 100
    emails = make_contacts(3000, prefix="parts")
    send = services.send_create(label="e2e", subject="Hello {{ first_name }}", body_text="Hi {{ first_name }}.")
    held = Contact.objects.get(email="parts2500@example.com")
    # Another transaction holds the unique (send, contact) entry of one contact of the rest: the rest's INSERT
    # waits on it, inside its own transaction, until this one ends.
    blocker = psycopg.connect(_database_url())
    blocker.execute(
        "INSERT INTO delivery_delivery (send_id, contact_id, email, page, status, provider_message_id, attempts, "
        "last_error) VALUES (%s, %s, %s, 0, 'queued', '', 0, '')",
        [send.pk, held.pk, held.email],
    )
    try:
        services.send_start(send_id=send.pk, audience=Contact.objects.filter(email__in=emails).values("id"))
        celery_worker.start(concurrency=2, DELIVERY_SNAPSHOT_FIRST_ROWS="100")

        _wait(_rest_insert_waiting, timeout=30)
        _wait(lambda: Send.objects.get(pk=send.pk).sent == 100, timeout=30)  # page 0 went out meanwhile
        assert fake_resend.report(emails[:100])["received"] == 100
        celery_worker.kill()
    finally:
        blocker.rollback()
        blocker.close()
    send.refresh_from_db()
    assert (send.total, Delivery.objects.filter(send=send).count()) == (100, 100)  # the rest rolled back whole
    assert send.status == Send.Status.SENDING  # and the send did not finish without it

    celery_worker.start()
    send = wait_done(send, timeout=90, tick=lambda: services.watchdog(stale_after=2))

    assert fake_resend.report(emails) == {"received": 3000, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert (send.total, send.sent, send.failed) == (3000, 3000, 0)
