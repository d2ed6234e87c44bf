"""Issue 13 §2: message content served from Herald's origin (/v/<token>/) is sandboxed."""

from __future__ import annotations

import pytest
from django.test import Client

from delivery import services
from delivery.models import Delivery, Send
from delivery.tokens import VIEW_SALT, token_make
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

# A Campaign Manager's template that would act as whoever opens it (an Admin reading the Outbox).
HOSTILE_HTML = (
    "<html><body><p>Hi {{ first_name }}</p>"
    "<script>fetch('/api/v1/templates',{method:'POST',credentials:'include'})</script>"
    '<img src="x" onerror="alert(document.cookie)"><a href="{{ view_in_browser_url }}">view</a></body></html>'
)


def _view_path(send: Send) -> str:
    delivery = Delivery.objects.get(send=send)
    return f"/v/{token_make(delivery_id=delivery.pk, contact_id=delivery.contact_id, salt=VIEW_SALT)}/"


def _directives(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    parts = [p.strip() for p in response["Content-Security-Policy"].split(";") if p.strip()]
    return {p.split(" ", 1)[0]: (p.split(" ", 1)[1] if " " in p else "") for p in parts}


@pytest.fixture
def hostile_view(client: Client):  # type: ignore[no-untyped-def]
    send = started_send(make_contacts(1), subject="News", body_text="", body_html=HOSTILE_HTML)
    return client.get(_view_path(send))


def test_view_in_browser_is_served_with_a_sandbox_that_allows_no_script(hostile_view) -> None:
    directives = _directives(hostile_view)

    assert hostile_view.status_code == 200
    assert "sandbox" in directives
    assert "allow-scripts" not in directives["sandbox"]
    assert "allow-same-origin" not in directives["sandbox"]


def test_view_in_browser_loads_nothing_but_images_and_inline_styles(hostile_view) -> None:
    directives = _directives(hostile_view)

    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == "* data:"
    assert directives["style-src"] == "'unsafe-inline'"
    assert "script-src" not in directives  # falls back to default-src 'none'


def test_view_in_browser_is_not_content_sniffed_and_sends_no_referrer(hostile_view) -> None:
    assert hostile_view["X-Content-Type-Options"] == "nosniff"
    assert hostile_view["Referrer-Policy"] == "no-referrer"


def test_view_in_browser_keeps_the_site_policy_off_the_message(hostile_view) -> None:
    # The view's own header is the only policy: the site-wide one would allow 'self' scripts.
    assert hostile_view["Content-Security-Policy"].count("default-src") == 1
    assert "'self'" not in hostile_view["Content-Security-Policy"]


def test_a_text_message_is_served_as_sandboxed_plain_text(client: Client) -> None:
    send = started_send(make_contacts(1), subject="News", body_text="<script>alert(1)</script>")

    response = client.get(_view_path(send))

    assert response["Content-Type"].startswith("text/plain")
    assert "sandbox" in _directives(response)


def test_view_in_browser_of_content_that_no_longer_renders_is_404_not_500(client: Client) -> None:
    send = started_send(make_contacts(1), subject="News", body_text="{% for a, b in first_name %}{{ a }}{% endfor %}")

    response = client.get(_view_path(send))

    assert response.status_code == 404
    assert "sandbox" in _directives(response)


def test_a_sent_message_links_to_a_sandboxed_view(client: Client) -> None:
    send = started_send(make_contacts(1), subject="News", body_text="", body_html=HOSTILE_HTML)
    services.page_send(send_id=send.pk, page=0)

    response = client.get(_view_path(send))

    assert b"<script>" in response.content  # shown as written, but only inside the sandbox
    assert "sandbox" in _directives(response)
