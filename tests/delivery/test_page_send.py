from __future__ import annotations

from typing import Any

import pytest
from celery.exceptions import Retry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from delivery import services
from delivery.models import Delivery, OutboxMessage, Send
from delivery.tasks import page_send_task
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

DeliveryStatus = Delivery.Status


def test_page_send_stores_the_page_in_the_outbox_and_marks_its_rows_sent() -> None:
    send = started_send(make_contacts(150))

    outcome = services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert (outcome.status, outcome.sent) == ("sent", 100)
    assert OutboxMessage.objects.count() == 100
    assert (
        Delivery.objects.filter(send=send, page=0, status=DeliveryStatus.SENT).exclude(provider_message_id="").count()
        == 100
    )
    assert Delivery.objects.filter(send=send, page=1, status=DeliveryStatus.QUEUED).count() == 50
    assert (send.sent, send.status) == (100, Send.Status.SENDING)


def test_page_sends_with_prepared_statements_off(settings: Any) -> None:
    # DELIVERY_PREPARED_STATEMENTS=false: what a transaction-pooling PgBouncer older than 1.21 needs.
    settings.DELIVERY_PREPARED_STATEMENTS = False
    send = started_send(make_contacts(30))

    outcome = services.page_send(send_id=send.pk, page=0)

    assert (outcome.status, outcome.sent) == ("sent", 30)
    assert Delivery.objects.filter(send=send, status=DeliveryStatus.SENT).count() == 30


def test_contact_deleted_mid_send_is_counted_cancelled_and_the_send_still_closes() -> None:
    contacts = make_contacts(3)
    send = started_send(contacts)
    contacts[0].delete()  # cascades to its Delivery row

    services.page_send(send_id=send.pk, page=0)

    send.refresh_from_db()
    assert (send.status, send.sent, send.cancelled, send.total) == (Send.Status.DONE, 2, 1, 3)


def test_page_task_called_twice_sends_once() -> None:
    send = started_send(make_contacts(30))

    page_send_task(send.pk, 0)
    page_send_task(send.pk, 0)

    assert OutboxMessage.objects.count() == 30
    send.refresh_from_db()
    assert send.sent == 30


def test_every_email_has_the_unsubscribe_link_and_rfc8058_headers() -> None:
    send = started_send(make_contacts(1), subject="Hello {{ first_name }}")

    services.page_send(send_id=send.pk, page=0)

    message = OutboxMessage.objects.get()
    delivery = Delivery.objects.get(send=send)
    unsubscribe_url = message.headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe_url.startswith("http://testserver/u/")
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.headers["X-Herald-Delivery"] == str(delivery.pk)
    assert unsubscribe_url in message.body_text
    assert message.subject == "Hello First0"


def test_last_page_closes_the_send_and_publishes_finished_once(django_capture_on_commit_callbacks, published) -> None:
    send = started_send(make_contacts(150))

    with django_capture_on_commit_callbacks(execute=True):
        services.page_send(send_id=send.pk, page=0)
        services.page_send(send_id=send.pk, page=1)
        services.page_send(send_id=send.pk, page=1)

    send.refresh_from_db()
    assert send.status == Send.Status.DONE
    assert send.finished_at is not None
    assert [e for e in published if e[1] == "finished"] == [(send.pk, "finished", "")]


def test_contact_unsubscribed_after_the_snapshot_is_not_sent() -> None:
    contacts = make_contacts(3)
    send = started_send(contacts)
    Contact.objects.filter(pk=contacts[1].pk).update(status=Contact.Status.UNSUBSCRIBED)

    services.page_send(send_id=send.pk, page=0)

    assert set(OutboxMessage.objects.values_list("to", flat=True)) == {contacts[0].email, contacts[2].email}
    assert Delivery.objects.get(send=send, contact=contacts[1]).status == DeliveryStatus.CANCELLED
    send.refresh_from_db()
    assert (send.sent, send.cancelled) == (2, 1)


def test_a_row_whose_contact_is_gone_is_cancelled_and_the_send_still_finishes() -> None:
    contacts = make_contacts(3)
    send = started_send(contacts)
    with connection.cursor() as cursor:  # no database FK from deliveries to contacts: the row stays behind
        cursor.execute("DELETE FROM contacts_contact WHERE id = %s", [contacts[1].pk])

    services.page_send(send_id=send.pk, page=0)

    assert set(OutboxMessage.objects.values_list("to", flat=True)) == {contacts[0].email, contacts[2].email}
    assert Delivery.objects.get(send=send, contact_id=contacts[1].pk).status == DeliveryStatus.CANCELLED
    send.refresh_from_db()
    assert (send.sent, send.cancelled, send.status) == (2, 1, Send.Status.DONE)


def test_idempotency_key_is_deterministic_and_changes_with_the_retry_round_and_rows() -> None:
    key = services.idempotency_key(send_id=7, page=3, retry_round=0, delivery_ids=[5, 1, 9])

    assert key == services.idempotency_key(send_id=7, page=3, retry_round=0, delivery_ids=[1, 9, 5])
    assert key != services.idempotency_key(send_id=7, page=3, retry_round=1, delivery_ids=[1, 9, 5])
    assert key != services.idempotency_key(send_id=7, page=3, retry_round=0, delivery_ids=[1, 9])
    assert key.startswith("herald-7-3-0-")


# --- through the real resend SDK to the local fake server ---------------------------------------------------


def test_resend_batch_call_sends_the_idempotency_key_and_stores_provider_ids(resend_transport) -> None:
    send = started_send(make_contacts(100))

    services.page_send(send_id=send.pk, page=0)

    stats = resend_transport.stats()
    assert stats["calls_accepted"] == 1
    assert stats["accepted"] == 100
    assert not Delivery.objects.filter(send=send, provider_message_id="").exists()


def test_replay_after_the_server_accepted_but_the_answer_was_lost_sends_nothing_twice(resend_transport) -> None:
    contacts = make_contacts(100)
    send = started_send(contacts)
    resend_transport.configure(error_after_accept_rate=1.0)

    first = services.page_send(send_id=send.pk, page=0)
    resend_transport.configure(error_after_accept_rate=0.0)
    second = services.page_send(send_id=send.pk, page=0)

    assert first.retry_in is not None
    assert Delivery.objects.filter(send=send, status=DeliveryStatus.SENT).count() == 100
    assert second.sent == 100
    assert resend_transport.stats()["replays"] == 1
    assert resend_transport.report([c.email for c in contacts])["duplicates"] == 0


def test_connections_to_the_provider_are_reused_across_pages(resend_transport) -> None:
    send = started_send(make_contacts(300))

    for page in range(3):
        services.page_send(send_id=send.pk, page=page)

    stats = resend_transport.stats()
    assert stats["calls_accepted"] == 3
    # At most one new TCP connection for three calls (none when an earlier test's pooled connection is still open).
    assert stats.get("connections", 0) <= 1


def test_429_keeps_the_rows_queued_and_retries_after_the_servers_retry_after(resend_transport) -> None:
    send = started_send(make_contacts(10))
    resend_transport.configure(storm_429_rate=1.0, retry_after=7)

    outcome = services.page_send(send_id=send.pk, page=0)

    assert outcome.status == "rate-limited"
    assert outcome.retry_in is not None and 7 <= outcome.retry_in < 7.5
    assert list(Delivery.objects.filter(send=send).values_list("status", "attempts").distinct()) == [
        (DeliveryStatus.QUEUED, 0)
    ]


def test_page_task_asks_celery_for_a_retry_on_429(resend_transport) -> None:
    send = started_send(make_contacts(10))
    resend_transport.configure(storm_429_rate=1.0, retry_after=1)

    with pytest.raises(Retry):
        page_send_task(send.pk, 0)


def test_5xx_keeps_the_rows_queued_counts_an_attempt_and_backs_off(resend_transport) -> None:
    send = started_send(make_contacts(10))
    resend_transport.configure(error_rate=1.0)

    outcome = services.page_send(send_id=send.pk, page=0)

    assert outcome.status == "transient"
    assert outcome.retry_in is not None and outcome.retry_in >= 1
    row = Delivery.objects.filter(send=send).first()
    assert row is not None
    assert (row.status, row.attempts) == (DeliveryStatus.QUEUED, 1)
    assert "500" in row.last_error


def test_5xx_marks_the_rows_failed_after_the_maximum_attempts(resend_transport, settings) -> None:
    settings.DELIVERY_MAX_ATTEMPTS = 2
    send = started_send(make_contacts(10))
    resend_transport.configure(error_rate=1.0)

    services.page_send(send_id=send.pk, page=0)
    outcome = services.page_send(send_id=send.pk, page=0)

    assert (outcome.status, outcome.retry_in) == ("gave-up", None)
    assert (
        Delivery.objects.filter(
            send=send, status=DeliveryStatus.FAILED, last_error__startswith="Gave up after 2"
        ).count()
        == 10
    )


def test_a_permanent_per_recipient_error_fails_only_that_row_with_the_reason(resend_transport) -> None:
    contacts = make_contacts(5)
    Contact.objects.filter(pk=contacts[2].pk).update(email="invalid-address@example.com")
    send = started_send(contacts)

    services.page_send(send_id=send.pk, page=0)

    bad = Delivery.objects.get(send=send, contact=contacts[2])
    assert bad.status == DeliveryStatus.FAILED
    assert "Invalid `to` field" in bad.last_error
    assert Delivery.objects.filter(send=send, status=DeliveryStatus.SENT).count() == 4
    send.refresh_from_db()
    assert (send.sent, send.failed) == (4, 1)


def test_auto_pause_when_the_error_rate_passes_the_threshold(
    resend_transport, settings, django_capture_on_commit_callbacks, published
) -> None:
    settings.DELIVERY_ERROR_PAUSE_RATE = 0.2
    contacts = make_contacts(100, prefix="invalid") + make_contacts(100, prefix="good")
    send = started_send(contacts)

    with django_capture_on_commit_callbacks(execute=True):
        services.page_send(send_id=send.pk, page=0)
    skipped = services.page_send(send_id=send.pk, page=1)

    send.refresh_from_db()
    assert send.status == Send.Status.PAUSED
    assert "Auto-paused: 100 of 100 recipients failed" in send.status_reason
    assert skipped.status == "skipped"
    assert [(e[0], e[1]) for e in published] == [(send.pk, "paused")]


def test_resend_gets_no_derived_text_part_since_it_builds_one_from_the_html(resend_transport) -> None:
    contacts = make_contacts(1)
    send = started_send(contacts, body_text="", body_html="<p>Hi {{ first_name }}</p>")

    services.page_send(send_id=send.pk, page=0)

    message = resend_transport.messages(to=contacts[0].email)[0]
    assert "text" not in message
    assert message["html"].startswith("<p>Hi First0</p>")


def test_outbox_keeps_a_text_part_derived_from_the_html() -> None:
    send = started_send(make_contacts(1), body_text="", body_html="<p>Hi {{ first_name }}</p>")

    services.page_send(send_id=send.pk, page=0)

    message = OutboxMessage.objects.get()
    assert message.body_text.startswith("Hi First0")
    assert "Unsubscribe: http://testserver/u/" in message.body_text


def test_a_template_send_uses_the_template_body_and_the_sends_subject() -> None:
    from templates_app.models import MessageTemplate

    template = MessageTemplate.objects.create(
        name="t",
        channel="email",
        templating_type="html",
        subject="Template subject",
        message="<p>T {{ first_name }}</p>",
    )
    send = services.send_create(label="t", subject="Scenario {{ first_name }}", template_id=template.pk)
    services.send_start(
        send_id=send.pk, audience=Contact.objects.filter(pk__in=[c.pk for c in make_contacts(1)]).values("pk")
    )

    services.page_send(send_id=send.pk, page=0)

    message = OutboxMessage.objects.get()
    assert message.subject == "Scenario First0"
    assert message.body_html.startswith("<p>T First0</p>")


def test_a_changed_page_under_an_already_used_key_is_not_sent_again(resend_transport) -> None:
    contacts = make_contacts(10)
    send = started_send(contacts)
    resend_transport.configure(error_after_accept_rate=1.0)
    services.page_send(send_id=send.pk, page=0)  # accepted by the server, the answer lost
    resend_transport.configure(error_after_accept_rate=0.0)
    Contact.objects.filter(pk=contacts[0].pk).update(status=Contact.Status.UNSUBSCRIBED)

    services.page_send(send_id=send.pk, page=0)

    assert resend_transport.report([c.email for c in contacts])["duplicates"] == 0
    assert (
        Delivery.objects.filter(send=send, status=DeliveryStatus.FAILED, last_error__contains="Idempotency-Key").count()
        == 9
    )


def test_contact_attributes_personalise_the_email() -> None:
    from contacts.models import ContactAttribute

    contacts = make_contacts(2)
    ContactAttribute.objects.create(contact=contacts[0], field_name="city", field_type="string", field_value="Lyon")
    send = started_send(contacts, body_text="From {{ city|default:'nowhere' }}")

    services.page_send(send_id=send.pk, page=0)

    bodies = dict(OutboxMessage.objects.values_list("to", "body_text"))
    assert bodies[contacts[0].email].startswith("From Lyon")
    assert bodies[contacts[1].email].startswith("From nowhere")


def test_content_without_attributes_does_not_query_them() -> None:
    send = started_send(make_contacts(5), body_text="Hi {{ first_name }}")

    with CaptureQueriesContext(connection) as queries:
        services.page_send(send_id=send.pk, page=0)

    assert not any("contacts_contactattribute" in q["sql"] for q in queries.captured_queries)
    assert OutboxMessage.objects.count() == 5
