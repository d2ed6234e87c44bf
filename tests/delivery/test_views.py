from __future__ import annotations

import re

import pytest
from django.urls import reverse

from contacts.models import Contact
from delivery import services
from delivery.models import Delivery, OutboxMessage
from delivery.tokens import UNSUBSCRIBE_SALT, VIEW_SALT, token_make
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_message() -> OutboxMessage:
    send = started_send(make_contacts(1), subject="News", body_text="Hello {{ first_name }}, see https://example.org/a")
    services.page_send(send_id=send.pk, page=0)
    return OutboxMessage.objects.get()


def unsubscribe_path(message: OutboxMessage) -> str:
    return message.headers["List-Unsubscribe"].strip("<>").removeprefix("http://testserver")


def test_unsubscribe_get_shows_a_confirm_page_and_changes_nothing(client, sent_message) -> None:
    response = client.get(unsubscribe_path(sent_message))

    assert response.status_code == 200
    assert b"Unsubscribe?" in response.content
    assert Contact.objects.get().status == Contact.Status.SUBSCRIBED


def test_unsubscribe_post_from_the_confirm_page_unsubscribes(client, sent_message) -> None:
    response = client.post(unsubscribe_path(sent_message))

    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    contact = Contact.objects.get()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert contact.unsubscribed_at is not None


def test_rfc8058_one_click_post_unsubscribes(client, sent_message) -> None:
    response = client.post(
        unsubscribe_path(sent_message),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert Contact.objects.get().status == Contact.Status.UNSUBSCRIBED


def test_a_forged_unsubscribe_token_gets_400_and_changes_nothing(client, sent_message) -> None:
    contact = Contact.objects.get()
    forged = token_make(delivery_id=1, contact_id=contact.pk, salt=UNSUBSCRIBE_SALT)[:-2] + "xx"

    get = client.get(reverse("delivery:unsubscribe", args=[forged]))
    post = client.post(reverse("delivery:unsubscribe", args=[forged]), data={"List-Unsubscribe": "One-Click"})

    assert (get.status_code, post.status_code) == (400, 400)
    assert Contact.objects.get().status == Contact.Status.SUBSCRIBED


def test_a_view_token_cannot_unsubscribe(client, sent_message) -> None:
    contact = Contact.objects.get()
    view_token = token_make(delivery_id=Delivery.objects.get().pk, contact_id=contact.pk, salt=VIEW_SALT)

    response = client.post(reverse("delivery:unsubscribe", args=[view_token]))

    assert response.status_code == 400
    assert Contact.objects.get().status == Contact.Status.SUBSCRIBED


def test_view_in_browser_renders_the_recipients_email(client, sent_message) -> None:
    delivery = Delivery.objects.get()
    token = token_make(delivery_id=delivery.pk, contact_id=delivery.contact_id, salt=VIEW_SALT)

    response = client.get(reverse("delivery:view", args=[token]))

    assert response.status_code == 200
    assert response.content.decode().startswith("Hello First0")


def test_outbox_needs_login(client) -> None:
    response = client.get(reverse("delivery:outbox"))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_outbox_lists_stored_emails_for_a_viewer(client, viewer, sent_message) -> None:
    client.force_login(viewer)

    response = client.get(reverse("delivery:outbox"))

    assert response.status_code == 200
    assert sent_message.to.encode() in response.content
    assert reverse("delivery:outbox-detail", args=[sent_message.pk]).encode() in response.content


def test_outbox_detail_shows_html_sandboxed_links_clickable_and_headers(client, manager) -> None:
    send = started_send(
        make_contacts(1),
        subject="S",
        body_text="",
        body_html='<p>Hi <a href="https://example.org/offer">the offer</a></p>',
    )
    services.page_send(send_id=send.pk, page=0)
    message = OutboxMessage.objects.get()
    client.force_login(manager)  # Viewers see the unsubscribe link inert (tests/security)

    response = client.get(reverse("delivery:outbox-detail", args=[message.pk]) + "?as=recipient")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in html
    assert "srcdoc=" in html
    # The link as sent (as the recipient sees it): the click redirect (docs/tracking.md), which answers locally.
    tracked = re.search(r'<a href="(http://testserver/t/c/[^"]+)" target="_blank" rel="noopener">the offer</a>', html)
    assert tracked is not None
    assert client.get(tracked.group(1).removeprefix("http://testserver"))["Location"] == "https://example.org/offer"
    assert f'href="{message.headers["List-Unsubscribe"].strip("<>")}"' in html
    assert "List-Unsubscribe-Post" in html


def test_outbox_preview_opens_the_emails_links_in_a_new_tab(client, manager) -> None:
    """Followed inside the sandboxed frame, a click's redirect leads to a site the dashboard's CSP will not frame."""
    send = started_send(
        make_contacts(1),
        subject="S",
        body_text="",
        body_html='<html><head><title>T</title></head><body><a href="https://example.org/x">x</a></body></html>',
    )
    services.page_send(send_id=send.pk, page=0)
    client.force_login(manager)

    response = client.get(reverse("delivery:outbox-detail", args=[OutboxMessage.objects.get().pk]))

    srcdoc = re.search(r'srcdoc="([^"]*)"', response.content.decode())
    assert srcdoc is not None
    assert "&lt;head&gt;&lt;base target=&quot;_blank&quot;&gt;&lt;title&gt;" in srcdoc.group(1)
