"""Two workers on one page: the second one skips rows the first holds (a real second database connection)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from delivery import services
from delivery.models import Delivery, OutboxMessage
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other_connection() -> Iterator[psycopg.Connection]:
    s = connection.settings_dict
    conn = psycopg.connect(
        dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"] or None, host=s["HOST"], port=s["PORT"] or 5432
    )
    yield conn
    conn.rollback()
    conn.close()


def test_a_page_another_worker_holds_is_skipped_not_sent_twice(other_connection) -> None:
    send = started_send(make_contacts(10))
    other_connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", (send.pk, 0))

    outcome = services.page_send(send_id=send.pk, page=0)

    assert outcome.status == "busy"
    assert OutboxMessage.objects.count() == 0


def test_rows_locked_by_another_transaction_are_skipped(other_connection) -> None:
    send = started_send(make_contacts(10))
    locked = list(Delivery.objects.filter(send=send).order_by("pk").values_list("pk", flat=True)[:4])
    other_connection.execute("SELECT id FROM delivery_delivery WHERE id = ANY(%s) FOR UPDATE", (locked,))

    outcome = services.page_send(send_id=send.pk, page=0)

    assert outcome.sent == 6
    assert set(Delivery.objects.filter(send=send, status=Delivery.Status.QUEUED).values_list("pk", flat=True)) == set(
        locked
    )
