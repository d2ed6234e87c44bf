"""Issue 12 on the public and outbox pages: a second unsubscribe click, long URLs, the favicon, the icons."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from contacts.models import Contact
from delivery import services
from delivery.models import OutboxMessage
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

LONG_URL = "https://example.org/" + "a" * 300


@pytest.fixture
def sent_message() -> OutboxMessage:
    send = started_send(make_contacts(1), subject="News", body_text=f"Hello, see {LONG_URL}")
    services.page_send(send_id=send.pk, page=0)
    return OutboxMessage.objects.get()


def _unsubscribe_path(message: OutboxMessage) -> str:
    return message.headers["List-Unsubscribe"].strip("<>").removeprefix("http://testserver")


def test_unsubscribe_link_of_an_unsubscribed_contact_says_so_instead_of_asking(
    client: Client, sent_message: OutboxMessage
) -> None:
    Contact.objects.update(status=Contact.Status.UNSUBSCRIBED)
    response = client.get(_unsubscribe_path(sent_message))
    body = response.content.decode()
    assert response.status_code == 200
    assert "You are already unsubscribed" in body
    assert "<form" not in body.split("<main", 1)[1]


def test_unsubscribe_link_of_a_subscribed_contact_still_asks(client: Client, sent_message: OutboxMessage) -> None:
    body = client.get(_unsubscribe_path(sent_message)).content.decode()
    assert "Unsubscribe?" in body
    assert "already" not in body


def test_second_unsubscribe_post_says_already_unsubscribed(client: Client, sent_message: OutboxMessage) -> None:
    path = _unsubscribe_path(sent_message)
    assert "You are unsubscribed" in client.post(path).content.decode()
    assert "You are already unsubscribed" in client.post(path).content.decode()


def test_outbox_detail_wraps_long_urls(viewer: User, sent_message: OutboxMessage) -> None:
    client = Client()
    client.force_login(viewer)
    body = client.get(reverse("delivery:outbox-detail", args=[sent_message.pk])).content.decode()
    links = re.search(r'<ul class="([^"]*)" id="outbox-links">', body)
    assert links is not None and "text-wrap-anywhere" in links.group(1)
    text = re.search(r'<pre class="([^"]*)"[^>]*>Hello, see', body)
    assert text is not None and "text-wrap-anywhere" in text.group(1)
    css = open(finders.find("css/herald.css") or "", encoding="utf-8").read()  # noqa: SIM115
    assert re.search(r"\.text-wrap-anywhere\s*\{[^}]*overflow-wrap:\s*anywhere", css)


def test_favicon_ico_redirects_to_the_vendored_icon(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/favicon.svg")
    assert finders.find("favicon.svg")


def test_pages_link_the_favicon_and_load_herald_js_without_inline_script(viewer: User) -> None:
    client = Client()
    client.force_login(viewer)
    body = client.get(reverse("delivery:outbox")).content.decode()
    assert re.search(r'<link rel="icon" href="[^"]*/favicon.svg"', body)
    assert re.search(r'<script src="[^"]*/js/herald.js"></script>', body)
    assert finders.find("js/herald.js")


def test_bell_is_a_vendored_svg_icon_not_an_emoji(viewer: User) -> None:
    client = Client()
    client.force_login(viewer)
    body = client.get(reverse("delivery:outbox")).content.decode()
    assert "&#128276;" not in body and "\U0001f514" not in body
    assert re.search(r'<use href="[^"]*/vendor/bootstrap-icons/icons.svg#bell">', body)
    sprite = open(finders.find("vendor/bootstrap-icons/icons.svg") or "", encoding="utf-8").read()  # noqa: SIM115
    assert '<symbol id="bell"' in sprite
    assert finders.find("vendor/bootstrap-icons/LICENSE")
