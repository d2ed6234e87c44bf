from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from standardwebhooks.webhooks import Webhook

from contacts.models import Contact
from delivery import services
from delivery.models import Delivery, TrackingEvent, WebhookEvent
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

SECRET = "whsec_" + base64.b64encode(b"herald-test-signing-secret-32by").decode()
URL = "/webhooks/resend"


@pytest.fixture(autouse=True)
def _secret(settings: Any) -> None:
    settings.RESEND_WEBHOOK_SECRET = SECRET


def _post(
    client: Client,
    payload: dict[str, Any],
    *,
    event_id: str = "msg_1",
    secret: str = SECRET,
    at: datetime | None = None,
    body: bytes | None = None,
    url: str = URL,
) -> Any:
    """POST as Resend does: the body signed with Svix under svix-id / svix-timestamp / svix-signature."""
    raw = json.dumps(payload).encode()
    when = at or datetime.now(tz=UTC)
    signature = Webhook(secret).sign(msg_id=event_id, timestamp=when, data=raw)
    return client.post(
        url,
        data=body if body is not None else raw,
        content_type="application/json",
        headers={"svix-id": event_id, "svix-timestamp": str(int(when.timestamp())), "svix-signature": signature},
    )


def _event(event_type: str, email_id: str, to: str = "c0@example.com", **data: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "created_at": "2026-12-01T10:00:00.000Z",
        "data": {"email_id": email_id, "to": [to], "subject": "Hi", **data},
    }


@pytest.fixture
def sent_delivery() -> Delivery:
    """A delivery the provider accepted under the id `re_1`."""
    send = started_send(make_contacts(1))
    Delivery.objects.filter(send=send).update(status=Delivery.Status.SENT, provider_message_id="re_1")
    return Delivery.objects.get(send=send)


# --- signature -------------------------------------------------------------------------------------------------


def test_an_event_signed_with_the_secret_is_accepted_and_stored(client: Client, sent_delivery: Delivery) -> None:
    response = _post(client, _event("email.delivered", "re_1"), event_id="msg_ok")

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.event_id, event.event_type, event.delivery_id) == ("msg_ok", "email.delivered", sent_delivery.pk)


def test_the_api_base_path_takes_the_same_signed_event(client: Client, sent_delivery: Delivery) -> None:
    response = _post(client, _event("email.delivered", "re_1"), url="/api/v1/webhooks/resend")

    assert response.status_code == 200
    assert WebhookEvent.objects.get().delivery_id == sent_delivery.pk


def test_a_tampered_body_is_refused_with_401_and_nothing_changes(client: Client, sent_delivery: Delivery) -> None:
    tampered = json.dumps(_event("email.complained", "re_1")).encode()

    response = _post(client, _event("email.delivered", "re_1"), body=tampered)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert Delivery.objects.get(pk=sent_delivery.pk).status == Delivery.Status.SENT
    assert Contact.objects.get(pk=sent_delivery.contact_id).status == Contact.Status.SUBSCRIBED


def test_a_signature_made_with_another_secret_is_refused_with_401(client: Client, sent_delivery: Delivery) -> None:
    other = "whsec_" + base64.b64encode(b"someone-elses-signing-secret-32b").decode()

    response = _post(client, _event("email.delivered", "re_1"), secret=other)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert Delivery.objects.get(pk=sent_delivery.pk).delivered_at is None


def test_a_timestamp_outside_the_tolerance_is_refused_with_401(client: Client, sent_delivery: Delivery) -> None:
    response = _post(client, _event("email.delivered", "re_1"), at=datetime.now(tz=UTC) - timedelta(minutes=10))

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_missing_signature_headers_are_refused_with_401(client: Client) -> None:
    response = client.post(URL, data=b"{}", content_type="application/json")

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_without_a_signing_secret_the_endpoint_answers_503(client: Client, settings: Any) -> None:
    settings.RESEND_WEBHOOK_SECRET = ""

    response = _post(client, _event("email.delivered", "re_1"))

    assert response.status_code == 503
    assert "RESEND_WEBHOOK_SECRET" in response.json()["detail"]
    assert not WebhookEvent.objects.exists()


def test_the_endpoint_takes_post_only_and_needs_no_login_or_csrf_token(client: Client) -> None:
    assert client.get(URL).status_code == 405
    csrf_client = Client(enforce_csrf_checks=True)
    assert _post(csrf_client, _event("email.sent", "re_x")).status_code == 200


# --- stored once --------------------------------------------------------------------------------------------------


def test_a_redelivered_event_is_stored_once_and_answered_200_both_times(
    client: Client, sent_delivery: Delivery
) -> None:
    first = _post(client, _event("email.opened", "re_1"), event_id="msg_dup")
    again = _post(client, _event("email.opened", "re_1"), event_id="msg_dup")

    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["stored"], again.json()["stored"]) == (True, False)
    assert WebhookEvent.objects.filter(event_id="msg_dup").count() == 1


def test_an_unknown_event_type_is_stored_and_changes_nothing(client: Client, sent_delivery: Delivery) -> None:
    response = _post(client, _event("email.scheduled", "re_1"))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().outcome.startswith("ignored")
    row = Delivery.objects.get(pk=sent_delivery.pk)
    assert (row.status, row.delivered_at, row.opened_at, row.clicked_at) == (Delivery.Status.SENT, None, None, None)


# --- applied to the delivery ----------------------------------------------------------------------------------------


def test_delivered_opened_and_clicked_set_their_times_once(client: Client, sent_delivery: Delivery) -> None:
    _post(client, _event("email.delivered", "re_1"), event_id="e1")
    _post(client, _event("email.opened", "re_1"), event_id="e2")
    click = _event("email.clicked", "re_1", click={"link": "https://example.com/"})
    _post(client, click, event_id="e3")
    later = {**_event("email.opened", "re_1"), "created_at": "2026-12-02T10:00:00Z"}
    _post(client, later, event_id="e4")

    row = Delivery.objects.get(pk=sent_delivery.pk)
    first = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert (row.delivered_at, row.opened_at, row.clicked_at) == (first, first, first)
    assert row.status == Delivery.Status.SENT


def test_delivery_delayed_notes_the_delay_on_the_delivery(client: Client, sent_delivery: Delivery) -> None:
    _post(client, _event("email.delivery_delayed", "re_1"))

    row = Delivery.objects.get(pk=sent_delivery.pk)
    assert row.status == Delivery.Status.SENT
    assert row.last_error.startswith("Delivery delayed")


def test_a_hard_bounce_suppresses_the_contact_and_the_next_snapshot_leaves_it_out(
    client: Client, sent_delivery: Delivery
) -> None:
    other = make_contacts(1, prefix="other")[0]
    bounce = {"type": "Permanent", "subType": "General", "message": "The address does not exist"}

    response = _post(client, _event("email.bounced", "re_1", bounce=bounce))

    assert response.status_code == 200
    row = Delivery.objects.get(pk=sent_delivery.pk)
    assert row.status == Delivery.Status.BOUNCED
    assert "does not exist" in row.last_error
    assert Contact.objects.get(pk=sent_delivery.contact_id).status == Contact.Status.BOUNCED
    next_send = started_send([Contact.objects.get(pk=sent_delivery.contact_id), other])
    assert list(Delivery.objects.filter(send=next_send).values_list("contact_id", flat=True)) == [other.pk]


def test_a_bounce_of_unknown_type_counts_as_hard(client: Client, sent_delivery: Delivery) -> None:
    _post(client, _event("email.bounced", "re_1", bounce={"type": "Undetermined"}))

    assert Contact.objects.get(pk=sent_delivery.contact_id).status == Contact.Status.BOUNCED


def test_a_soft_bounce_marks_the_delivery_but_keeps_the_contact(client: Client, sent_delivery: Delivery) -> None:
    _post(client, _event("email.bounced", "re_1", bounce={"type": "Transient", "message": "Mailbox full"}))

    assert Delivery.objects.get(pk=sent_delivery.pk).status == Delivery.Status.BOUNCED
    assert Contact.objects.get(pk=sent_delivery.contact_id).status == Contact.Status.SUBSCRIBED


def test_a_complaint_marks_the_delivery_and_the_contact_complained(client: Client, sent_delivery: Delivery) -> None:
    _post(client, _event("email.complained", "re_1"))

    assert Delivery.objects.get(pk=sent_delivery.pk).status == Delivery.Status.COMPLAINED
    assert Contact.objects.get(pk=sent_delivery.contact_id).status == Contact.Status.COMPLAINED


def test_a_complaint_for_an_unknown_message_suppresses_the_recipient_by_email(client: Client) -> None:
    contact = make_contacts(1, prefix="loose")[0]

    response = _post(client, _event("email.complained", "re_unknown", to="Loose0@Example.com"))

    assert response.status_code == 200
    assert Contact.objects.get(pk=contact.pk).status == Contact.Status.COMPLAINED
    assert WebhookEvent.objects.get().delivery_id is None


def test_a_complaint_after_unsubscribing_still_suppresses_for_good(client: Client, sent_delivery: Delivery) -> None:
    Contact.objects.filter(pk=sent_delivery.contact_id).update(status=Contact.Status.UNSUBSCRIBED)

    _post(client, _event("email.complained", "re_1"))

    assert Contact.objects.get(pk=sent_delivery.contact_id).status == Contact.Status.COMPLAINED


# --- the ids the events are matched by ---------------------------------------------------------------------------


def test_a_page_send_keeps_resends_message_id_on_each_delivery(resend_transport: Any) -> None:
    send = started_send(make_contacts(3))

    services.page_send(send_id=send.pk, page=0)

    ids = list(Delivery.objects.filter(send=send).values_list("provider_message_id", flat=True))
    assert all(ids) and len(set(ids)) == 3
    assert Delivery.objects.filter(send=send, status=Delivery.Status.SENT).count() == 3


def test_an_event_finds_the_delivery_a_page_send_stored_its_id_on(client: Client, resend_transport: Any) -> None:
    send = started_send(make_contacts(2))
    services.page_send(send_id=send.pk, page=0)
    row = Delivery.objects.filter(send=send).order_by("pk").first()
    assert row is not None

    _post(client, _event("email.delivered", row.provider_message_id, to=row.email))

    assert Delivery.objects.get(pk=row.pk).delivered_at is not None
    assert Delivery.objects.filter(send=send, delivered_at__isnull=True).count() == 1


# --- Svix's own test vector (docs.svix.com "Verifying payloads manually", and the svix libraries' tests) -------

SVIX_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SVIX_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SVIX_TIMESTAMP = 1614265330
SVIX_BODY = b'{"test": 2432232314}'
SVIX_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _svix_post(client: Client, *, signature: str = SVIX_SIGNATURE, body: bytes = SVIX_BODY) -> Any:
    return client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={"svix-id": SVIX_ID, "svix-timestamp": str(SVIX_TIMESTAMP), "svix-signature": signature},
    )


def test_svixs_published_test_vector_is_accepted(client: Client, settings: Any) -> None:
    settings.RESEND_WEBHOOK_SECRET = SVIX_SECRET
    with time_machine.travel(datetime.fromtimestamp(SVIX_TIMESTAMP + 5, tz=UTC), tick=False):
        response = _svix_post(client)

    assert response.status_code == 200
    assert WebhookEvent.objects.get(event_id=SVIX_ID).payload == {"test": 2432232314}


def test_svixs_test_vector_with_one_signature_byte_changed_is_refused(client: Client, settings: Any) -> None:
    settings.RESEND_WEBHOOK_SECRET = SVIX_SECRET
    with time_machine.travel(datetime.fromtimestamp(SVIX_TIMESTAMP + 5, tz=UTC), tick=False):
        response = _svix_post(client, signature=SVIX_SIGNATURE.replace("g0hM", "g0hN"))

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_svixs_test_vector_with_its_body_changed_is_refused(client: Client, settings: Any) -> None:
    settings.RESEND_WEBHOOK_SECRET = SVIX_SECRET
    with time_machine.travel(datetime.fromtimestamp(SVIX_TIMESTAMP + 5, tz=UTC), tick=False):
        response = _svix_post(client, body=b'{"test": 2432232315}')

    assert response.status_code == 401


def test_svixs_test_vector_replayed_an_hour_later_is_refused(client: Client, settings: Any) -> None:
    settings.RESEND_WEBHOOK_SECRET = SVIX_SECRET
    with time_machine.travel(datetime.fromtimestamp(SVIX_TIMESTAMP + 3600, tz=UTC), tick=False):
        response = _svix_post(client)

    assert response.status_code == 401


# --- opens and clicks feed the tracking events ---------------------------------------------------------------------


def test_a_webhook_click_is_a_tracking_event_with_its_agent_and_link(client: Client, sent_delivery: Delivery) -> None:
    chrome = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
    )
    click = {"link": "https://example.com/x", "userAgent": chrome, "ipAddress": "198.51.100.4"}

    _post(client, _event("email.clicked", "re_1", click=click), event_id="c1")

    event = TrackingEvent.objects.get()
    assert (event.kind, event.source, event.classification) == ("click", "webhook", "human")
    assert (event.url, event.user_agent, event.ip) == ("https://example.com/x", chrome, "198.51.100.4")
    assert Delivery.objects.get(pk=sent_delivery.pk).clicked_at is not None


def test_a_webhook_click_from_a_scanner_is_kept_but_sets_no_click(client: Client, sent_delivery: Delivery) -> None:
    click = {"link": "https://example.com/x", "userAgent": "Barracuda Sentinel (EE)", "ipAddress": "198.51.100.4"}

    _post(client, _event("email.clicked", "re_1", click=click), event_id="c1")

    assert TrackingEvent.objects.get().rule == "bot-ua"
    assert Delivery.objects.get(pk=sent_delivery.pk).clicked_at is None
    assert WebhookEvent.objects.get(event_id="c1").outcome == "clicked: machine (bot-ua)"


def test_a_redelivered_webhook_open_is_one_tracking_event(client: Client, sent_delivery: Delivery) -> None:
    _post(client, _event("email.opened", "re_1"), event_id="o1")
    _post(client, _event("email.opened", "re_1"), event_id="o1")

    assert TrackingEvent.objects.filter(kind="open").count() == 1
