"""Links rewritten and the pixel added at render: what is tracked, what is never touched, the switches."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from contacts.models import Contact
from delivery import services
from delivery.compose import Recipient, compose_page
from delivery.models import Delivery, Send
from delivery.tokens import click_token_read
from delivery.transports import OutgoingEmail

pytestmark = pytest.mark.django_db

HTML = (
    "<html><body><p>Hi {{ first_name }}</p>"
    '<a href="https://example.com/offer?a=1&amp;b=2">Offer</a> '
    "<a href='https://example.com/p/{{ first_name|lower }}'>Yours</a> "
    '<a href="mailto:help@example.com">Mail us</a> '
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a> <a href="{{ view_url }}">View</a>'
    "</body></html>"
)
TEXT = "Offer: https://example.com/offer?a=1&b=2.\nMore at https://example.com/more\nUnsubscribe: {{ unsubscribe_url }}"


def _compose(send: Send) -> OutgoingEmail:
    d = Delivery.objects.select_related("contact").get(send=send)
    c = d.contact
    recipient = Recipient(
        delivery_id=d.pk,
        contact_id=c.pk,
        email=c.email,
        first_name=c.first_name,
        last_name=c.last_name,
        mobile=c.mobile,
        lms_lead_id=c.lms_lead_id,
    )
    return compose_page(send=send, recipients=[recipient])[0]


def _send(*, body_html: str = HTML, body_text: str = TEXT, **switches: Any) -> Send:
    contact = Contact.objects.create(email="ann@example.com", first_name="Ann")
    send = services.send_create(label="t", subject="Hi", body_html=body_html, body_text=body_text, **switches)
    services.send_start(send_id=send.pk, audience=Contact.objects.filter(pk=contact.pk).values("pk"))
    return send


def _hrefs(html: str) -> list[str]:
    return re.findall(r"""href=["']([^"']+)""", html)


def _target(link: str) -> str:
    token = click_token_read(link.rsplit("/", 1)[1])
    assert token is not None
    return token.url


def test_every_web_link_of_the_html_becomes_a_signed_redirect_to_it() -> None:
    email = _compose(_send())

    hrefs = _hrefs(email.html)
    tracked = [h for h in hrefs if h.startswith("http://testserver/t/c/")]
    assert [_target(h) for h in tracked] == ["https://example.com/offer?a=1&b=2", "https://example.com/p/ann"]


def test_unsubscribe_view_and_mailto_links_are_never_rewritten() -> None:
    email = _compose(_send())

    hrefs = _hrefs(email.html)
    assert "mailto:help@example.com" in hrefs
    assert any(h.startswith("http://testserver/u/") for h in hrefs)
    assert any(h.startswith("http://testserver/v/") for h in hrefs)
    assert email.headers["List-Unsubscribe"].startswith("<http://testserver/u/")


def test_the_text_part_links_are_rewritten_and_share_the_html_links_positions() -> None:
    email = _compose(_send())

    links = [link.rstrip(".") for link in re.findall(r"http://testserver/t/c/\S+", email.text)]
    tokens = [click_token_read(link.rsplit("/", 1)[1]) for link in links]
    assert [(t.url, t.link_index, t.link_count) for t in tokens if t] == [
        ("https://example.com/offer?a=1&b=2", 0, 3),
        ("https://example.com/more", 2, 3),
    ]
    assert "Unsubscribe: http://testserver/u/" in email.text
    assert "https://example.com/offer?a=1&b=2." not in email.text  # the sentence's full stop stays outside


def test_a_text_link_taken_with_the_sentences_full_stop_still_redirects(client: Client) -> None:
    email = _compose(_send())
    link = re.findall(r"http://testserver/t/c/\S+", email.text)[0]
    assert link.endswith(".")

    response = client.get(link.removeprefix("http://testserver"))

    assert response.status_code == 302
    assert response["Location"] == "https://example.com/offer?a=1&b=2"


def test_the_html_gets_one_open_pixel_before_the_end_of_the_body() -> None:
    email = _compose(_send())

    assert email.html.count('src="http://testserver/t/o/') == 1
    assert re.search(r'<img src="http://testserver/t/o/[^"]+" width="1" height="1" alt=""[^>]*></body>', email.html)


def test_with_click_tracking_off_the_links_are_left_alone() -> None:
    email = _compose(_send(track_clicks=False))

    assert "/t/c/" not in email.html + email.text
    assert '<a href="https://example.com/offer?a=1&amp;b=2">' in email.html
    assert "/t/o/" in email.html


def test_with_open_tracking_off_there_is_no_pixel() -> None:
    email = _compose(_send(track_opens=False))

    assert "/t/o/" not in email.html
    assert "/t/c/" in email.html


def test_the_global_settings_turn_tracking_off_whatever_the_owner_says(settings: Any) -> None:
    settings.HERALD_TRACK_OPENS = False
    settings.HERALD_TRACK_CLICKS = False

    send = services.send_create(label="t", subject="Hi", body_text="x", track_opens=True, track_clicks=True)

    assert (send.track_opens, send.track_clicks) == (False, False)


def test_the_fast_renderer_and_the_template_renderer_track_the_same_links() -> None:
    plain = _compose(_send())
    Contact.objects.all().delete()
    with_tags = _compose(_send(body_html="{% if True %}" + HTML + "{% endif %}"))

    def shape(html: str) -> list[tuple[str, int, int]]:
        out = []
        for h in _hrefs(html):
            token = click_token_read(h.rsplit("/", 1)[1]) if "/t/c/" in h else None
            if token:
                out.append((token.url, token.link_index, token.link_count))
        return out

    assert shape(plain.html) == shape(with_tags.html)
    assert len(shape(plain.html)) == 2


def test_a_rewritten_link_of_a_composed_email_redirects_to_the_original(client: Client) -> None:
    email = _compose(_send())
    link = next(h for h in _hrefs(email.html) if "/t/c/" in h)

    response = client.get(link.removeprefix("http://testserver"))

    assert response.status_code == 302
    assert response["Location"] == "https://example.com/offer?a=1&b=2"


def test_the_same_recipient_renders_the_same_links_twice() -> None:
    """A retried page must be byte-identical, or the provider refuses the replayed Idempotency-Key."""
    send = _send()

    assert _compose(send).html == _compose(Send.objects.get(pk=send.pk)).html


def test_a_link_too_long_for_a_request_line_is_left_untracked() -> None:
    long_url = "https://example.com/?q=" + "x" * 2100
    email = _compose(_send(body_html=f'<a href="{long_url}">Long</a> <a href="https://example.com/short">Short</a>'))

    hrefs = _hrefs(email.html)
    assert long_url in hrefs
    assert any(h.startswith("http://testserver/t/c/") and len(h) < 400 for h in hrefs)
