"""The snapshot in two parts: the first page is written and released before the rest of the audience."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from contacts.models import Contact
from delivery import selectors, services
from delivery.models import Delivery, Send
from delivery.services import snapshot
from tests.delivery.helpers import make_contacts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _two_parts(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DELIVERY_SNAPSHOT_FIRST_ROWS = 100


def _start(contacts: list[Contact], capture: Any) -> Send:
    send = services.send_create(label="t", subject="s", body_text="b")
    with capture(execute=False) as callbacks:
        services.send_start(
            send_id=send.pk, audience=Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
        )
    send.callbacks = callbacks  # type: ignore[attr-defined]
    send.refresh_from_db()
    return send


def _rows(send: Send) -> dict[int, int]:
    pages: dict[int, int] = {}
    for page in Delivery.objects.filter(send=send).values_list("page", flat=True):
        pages[page] = pages.get(page, 0) + 1
    return pages


def test_send_start_writes_only_the_first_page_and_keeps_the_rest_for_later(
    django_capture_on_commit_callbacks,
) -> None:
    contacts = make_contacts(250)

    send = _start(contacts, django_capture_on_commit_callbacks)

    assert _rows(send) == {0: 100}
    first = set(Delivery.objects.filter(send=send).values_list("contact_id", flat=True))
    assert first == {c.pk for c in contacts[:100]}
    assert (send.status, send.total, send.pages, send.next_page) == (Send.Status.SENDING, 100, 1, 1)
    assert send.snapshot_rest_sql and send.snapshot_after == contacts[99].pk


def test_page_zero_and_the_rest_are_enqueued_when_the_caller_commits(
    django_capture_on_commit_callbacks, queued_messages
) -> None:
    contacts = make_contacts(250)
    send = services.send_create(label="t", subject="s", body_text="b")

    with django_capture_on_commit_callbacks(execute=True):
        services.send_start(
            send_id=send.pk, audience=Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk")
        )

    assert queued_messages() == 2  # page 0 and send_snapshot_task


def test_the_rest_numbers_its_pages_after_the_first_and_completes_the_total(django_capture_on_commit_callbacks) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)

    written = services.send_snapshot_rest(send_id=send.pk)

    send.refresh_from_db()
    assert written == 150
    assert _rows(send) == {0: 100, 1: 100, 2: 50}
    assert (send.total, send.pages, send.snapshot_rest_sql, send.snapshot_after) == (250, 3, "", None)
    assert Delivery.objects.filter(send=send).values("contact_id").distinct().count() == 250


def test_a_first_page_sent_before_the_rest_is_written_does_not_finish_the_send(
    django_capture_on_commit_callbacks,
) -> None:
    contacts = make_contacts(150)
    send = _start(contacts, django_capture_on_commit_callbacks)

    services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert (send.status, send.sent, send.total) == (Send.Status.SENDING, 100, 100)
    assert services.send_finish_if_complete(send_id=send.pk, trust_counters=False) is False


def test_the_rest_releases_its_pages_and_the_send_finishes_after_them(django_capture_on_commit_callbacks) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)
    services.page_send(send_id=send.pk, page=0)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.send_snapshot_rest(send_id=send.pk)
    assert len(callbacks) == 1  # pages 1 and 2 to the broker
    send.refresh_from_db()
    assert send.next_page == 3
    services.page_send(send_id=send.pk, page=1)
    services.page_send(send_id=send.pk, page=2)

    send.refresh_from_db()
    assert (send.status, send.sent, send.total) == (Send.Status.DONE, 250, 250)


def test_an_empty_rest_closes_a_send_whose_first_page_already_sent(django_capture_on_commit_callbacks) -> None:
    contacts = make_contacts(100)  # exactly the first part: whether more follows is only known by writing the rest
    send = _start(contacts, django_capture_on_commit_callbacks)
    services.page_send(send_id=send.pk, page=0)

    assert services.send_snapshot_rest(send_id=send.pk) == 0

    send.refresh_from_db()
    assert (send.status, send.sent, send.total) == (Send.Status.DONE, 100, 100)


def test_an_audience_smaller_than_the_first_part_is_snapshotted_in_one_part(
    django_capture_on_commit_callbacks,
) -> None:
    contacts = make_contacts(40)

    send = _start(contacts, django_capture_on_commit_callbacks)

    assert (send.total, send.snapshot_rest_sql) == (40, "")


def test_a_crash_while_writing_the_rest_leaves_the_first_part_and_the_rerun_writes_each_recipient_once(
    django_capture_on_commit_callbacks, monkeypatch
) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)
    real_insert = snapshot._insert

    def insert_then_die(*args: Any, **kwargs: Any) -> Any:
        real_insert(*args, **kwargs)
        raise SystemExit("SIGKILL")  # the worker dies after the INSERT, before the commit

    monkeypatch.setattr(snapshot, "_insert", insert_then_die)
    with pytest.raises(SystemExit):
        services.send_snapshot_rest(send_id=send.pk)
    send.refresh_from_db()
    assert (_rows(send), send.total) == ({0: 100}, 100)
    assert send.snapshot_rest_sql

    monkeypatch.setattr(snapshot, "_insert", real_insert)
    services.send_snapshot_rest(send_id=send.pk)

    send.refresh_from_db()
    assert _rows(send) == {0: 100, 1: 100, 2: 50}
    assert (send.total, send.pages) == (250, 3)


def test_the_rest_runs_once_when_called_twice(django_capture_on_commit_callbacks) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)

    services.send_snapshot_rest(send_id=send.pk)
    again = services.send_snapshot_rest(send_id=send.pk)

    send.refresh_from_db()
    assert (again, send.total, Delivery.objects.filter(send=send).count()) == (0, 250, 250)


def test_the_watchdog_enqueues_a_rest_whose_task_was_lost(django_capture_on_commit_callbacks, queued_messages) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)  # its callbacks never ran: the messages are lost
    Send.objects.filter(pk=send.pk).update(last_progress_at=timezone.now() - dt.timedelta(minutes=5))

    with django_capture_on_commit_callbacks(execute=True):
        services.watchdog()

    assert queued_messages() == 2  # the rest, and page 0 (released, still queued)


def test_a_send_cancelled_before_its_rest_is_written_ends_with_every_row_cancelled_and_the_total_right(
    django_capture_on_commit_callbacks,
) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)
    services.send_cancel(send_id=send.pk)

    services.send_snapshot_rest(send_id=send.pk)

    send.refresh_from_db()
    assert (send.status, send.total, send.cancelled) == (Send.Status.CANCELLED, 250, 250)
    assert not Delivery.objects.filter(send=send, status=Delivery.Status.QUEUED).exists()


def test_a_send_paused_before_its_rest_is_written_releases_no_page_until_resumed(
    django_capture_on_commit_callbacks,
) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)
    services.send_pause(send_id=send.pk)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.send_snapshot_rest(send_id=send.pk)

    send.refresh_from_db()
    assert (len(callbacks), send.next_page, send.total) == (0, 1, 250)
    assert services.send_resume(send_id=send.pk) == 3


def test_progress_while_the_rest_is_written_shows_no_percent_and_no_eta(django_capture_on_commit_callbacks) -> None:
    contacts = make_contacts(250)
    send = _start(contacts, django_capture_on_commit_callbacks)
    services.page_send(send_id=send.pk, page=0)

    progress = selectors.send_progress(send_id=send.pk)

    assert (progress.snapshotting, progress.percent, progress.eta_seconds) == (True, 0.0, None)
    assert (progress.sent, progress.total) == (100, 100)


def test_the_rest_of_an_audience_with_a_like_pattern_is_written(django_capture_on_commit_callbacks) -> None:
    contacts = make_contacts(150, prefix="50%off")
    make_contacts(5, prefix="other")
    send = services.send_create(label="t", subject="s", body_text="b")
    with django_capture_on_commit_callbacks(execute=False):
        services.send_start(send_id=send.pk, audience=Contact.objects.filter(email__startswith="50%off").values("pk"))

    services.send_snapshot_rest(send_id=send.pk)

    assert set(Delivery.objects.filter(send=send).values_list("contact_id", flat=True)) == {c.pk for c in contacts}


def test_the_rest_of_a_rules_segment_with_typed_parameters_is_the_same_audience(
    django_capture_on_commit_callbacks,
) -> None:
    from contacts.models import ContactAttribute, FunnelEvent
    from segments.models import Segment
    from segments.selectors import segment_contact_ids

    contacts = make_contacts(260)
    ContactAttribute.objects.bulk_create(
        [
            ContactAttribute(contact=c, field_name="score", field_type="numeric", field_value=i % 10)
            for i, c in enumerate(contacts)
        ]
    )
    FunnelEvent.objects.bulk_create(
        [FunnelEvent(contact=c, funnel_type="sales", to_stage="applied") for c in contacts[::3]]
    )
    segment = Segment(
        name="s",
        type=Segment.Type.RULES,
        rules={
            "op": "or",
            "conditions": [
                {"attribute": "score", "type": "numeric", "operator": "gt", "value": 5},
                {"event": {"to_stage": "applied", "within_days": 7}},
            ],
        },
    )
    expected = set(segment_contact_ids(segment=segment))
    send = services.send_create(label="t", subject="s", body_text="b")
    with django_capture_on_commit_callbacks(execute=False):
        services.send_start(send_id=send.pk, audience=segment_contact_ids(segment=segment))

    services.send_snapshot_rest(send_id=send.pk)

    assert len(expected) > 100
    assert set(Delivery.objects.filter(send=send).values_list("contact_id", flat=True)) == expected


def test_the_rest_of_a_sql_segment_reads_its_materialised_ids(django_capture_on_commit_callbacks) -> None:
    from segments.models import Segment
    from segments.selectors import segment_contact_ids

    contacts = make_contacts(300)
    segment = Segment(
        name="s",
        type=Segment.Type.SQL,
        selection_sql="SELECT id FROM contacts_contact WHERE first_name LIKE 'First1%'",
    )
    send = services.send_create(label="t", subject="s", body_text="b")
    with django_capture_on_commit_callbacks(execute=False):
        services.send_start(send_id=send.pk, audience=segment_contact_ids(segment=segment))

    services.send_snapshot_rest(send_id=send.pk)

    expected = {c.pk for c in contacts if c.first_name.startswith("First1")}
    assert len(expected) == 111
    assert set(Delivery.objects.filter(send=send).values_list("contact_id", flat=True)) == expected
    assert Send.objects.get(pk=send.pk).total == 111


def test_the_admin_never_offers_the_rest_sql_for_editing(admin_client) -> None:  # type: ignore[no-untyped-def]
    send = services.send_create(label="t", subject="s", body_text="b")
    Send.objects.filter(pk=send.pk).update(snapshot_rest_sql="SELECT 1", snapshot_after=7)

    page = admin_client.get(f"/admin/delivery/send/{send.pk}/change/").content.decode()
    admin_client.post(f"/admin/delivery/send/{send.pk}/change/", {"snapshot_rest_sql": "SELECT 2", "subject": "s"})

    assert "snapshot_rest_sql" not in page
    assert Send.objects.get(pk=send.pk).snapshot_rest_sql == "SELECT 1"
