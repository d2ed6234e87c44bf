from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from delivery import services
from delivery.models import Delivery, Send
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db


def test_snapshot_excludes_unsubscribed_bounced_and_complained_contacts() -> None:
    ok = make_contacts(3, prefix="ok")
    out = [
        *make_contacts(1, prefix="u", status=Contact.Status.UNSUBSCRIBED),
        *make_contacts(1, prefix="b", status=Contact.Status.BOUNCED),
        *make_contacts(1, prefix="x", status=Contact.Status.COMPLAINED),
    ]

    send = started_send(ok + out)

    assert set(Delivery.objects.filter(send=send).values_list("contact_id", flat=True)) == {c.pk for c in ok}
    assert send.total == 3
    assert send.status == Send.Status.SENDING


def test_snapshot_cuts_pages_of_100_in_contact_order() -> None:
    contacts = make_contacts(250)

    send = started_send(contacts)

    pages = {p: Delivery.objects.filter(send=send, page=p).count() for p in range(3)}
    assert pages == {0: 100, 1: 100, 2: 50}
    assert send.pages == 3
    first_page = Delivery.objects.filter(send=send, page=0).values_list("contact_id", flat=True)
    assert set(first_page) == {c.pk for c in contacts[:100]}


def test_snapshot_is_one_insert_statement_whatever_the_audience_size() -> None:
    contacts = make_contacts(500)
    send = services.send_create(label="t", subject="s", body_text="b")

    with CaptureQueriesContext(connection) as queries:
        services.send_start(
            send_id=send.pk, audience=Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
        )

    inserts = [
        q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("INSERT INTO delivery_delivery")
    ]
    assert len(inserts) == 1
    assert "ON CONFLICT" in inserts[0]
    assert len(queries.captured_queries) <= 7  # + the `started` event's notice (delivery.services.notices)
    assert Delivery.objects.filter(send=send).count() == 500


def test_send_start_twice_snapshots_once() -> None:
    contacts = make_contacts(120)
    send = started_send(contacts)
    Contact.objects.bulk_create([Contact(email="late@example.com")])

    total = services.send_start(send_id=send.pk, audience=Contact.objects.values("pk"))

    assert total == 120
    assert Delivery.objects.filter(send=send).count() == 120


def test_send_start_enqueues_one_task_per_page_after_commit(
    django_capture_on_commit_callbacks, queued_messages
) -> None:
    contacts = make_contacts(201)
    send = services.send_create(label="t", subject="s", body_text="b")

    with django_capture_on_commit_callbacks(execute=True):
        services.send_start(
            send_id=send.pk, audience=Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
        )

    assert queued_messages() == 3


def test_send_start_with_an_empty_audience_finishes_at_once(django_capture_on_commit_callbacks, published) -> None:
    send = services.send_create(label="t", subject="s", body_text="b")

    with django_capture_on_commit_callbacks(execute=True):
        total = services.send_start(send_id=send.pk, audience=Contact.objects.none().values("pk"))

    send.refresh_from_db()
    assert (total, send.status) == (0, Send.Status.DONE)
    assert (send.pk, "finished", "") in published


def test_only_a_window_of_pages_is_queued_and_each_committed_page_releases_the_next(
    settings, django_capture_on_commit_callbacks, queued_messages
) -> None:
    settings.DELIVERY_WINDOW_PAGES = 2
    contacts = make_contacts(500)
    send = services.send_create(label="t", subject="s", body_text="b")

    with django_capture_on_commit_callbacks(execute=True):
        services.send_start(
            send_id=send.pk, audience=Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
        )
    assert queued_messages() == 2

    with django_capture_on_commit_callbacks(execute=True):
        services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert queued_messages() == 3
    assert (send.pages, send.next_page) == (5, 3)
