"""Staff reading the Outbox record no open or click for the recipient (issue 17): outside the embedded default the
Outbox shows a copy without the pixel and with the links' own URLs; "as the recipient" shows the email as sent."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from delivery import services
from delivery.models import OutboxMessage, TrackingEvent
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

HTML = '<html><body><p>See <a href="https://example.org/offer?id=7&amp;x=1">the offer</a>.</p></body></html>'
TEXT = "The offer: https://example.org/offer?id=7"


def _outbox_page(manager: User, query: str = "") -> str:
    send = started_send(make_contacts(1), subject="S", body_text=TEXT, body_html=HTML)
    services.page_send(send_id=send.pk, page=0)
    message = OutboxMessage.objects.get()
    assert "/t/o/" in message.body_html and "/t/c/" in message.body_text  # stored as sent
    client = Client()
    client.force_login(manager)
    response = client.get(reverse("delivery:outbox-detail", args=[message.pk]) + query)
    assert response.status_code == 200
    return response.content.decode()


def test_staff_read_a_copy_without_the_pixel_or_the_click_redirects(manager: User) -> None:
    page = _outbox_page(manager)
    assert "/t/o/" not in page and "/t/c/" not in page
    assert "https://example.org/offer?id=7&amp;amp;x=1" in page  # the original link, in the frame's srcdoc
    assert "The offer: https://example.org/offer?id=7" in page  # the text part
    assert 'id="outbox-tracking"' in page and "?as=recipient" in page


def test_as_the_recipient_shows_the_email_as_sent(manager: User) -> None:
    page = _outbox_page(manager, "?as=recipient")
    assert "/t/o/" in page and "/t/c/" in page


def test_embedded_outbox_stands_in_for_the_inbox_and_shows_the_email_as_sent(settings: Any, manager: User) -> None:
    settings.OUTBOX_AS_INBOX = True
    page = _outbox_page(manager)
    assert "/t/o/" in page and "/t/c/" in page


def test_following_a_link_of_the_staff_copy_records_no_click(manager: User) -> None:
    page = _outbox_page(manager)
    links = re.findall(r'<a href="([^"]+)" target="_blank" rel="noopener">the offer</a>', page)
    assert links == ["https://example.org/offer?id=7&amp;x=1"]
    assert not TrackingEvent.objects.exists()


def test_a_click_token_that_no_longer_verifies_becomes_a_dead_link(settings: Any) -> None:
    from delivery.outbox_copy import staff_copy

    html, text = staff_copy(
        html=f'<a href="{settings.HERALD_BASE_URL}/t/c/forged.token.x.y">x</a>',
        text=f"{settings.HERALD_BASE_URL}/t/c/forged.token.x.y",
    )
    assert (html, text) == ('<a href="about:blank">x</a>', "[link]")
