"""Issue 13 §3: system variables (unsubscribe and view links) always win over contact data, on every render path."""

from __future__ import annotations

import pytest

from contacts.models import ContactAttribute
from delivery.compose import Recipient, compose_page
from delivery.models import Delivery
from templates_app import services as template_services
from templates_app.rendering import compile_message, contact_context
from tests.delivery.helpers import make_contacts, started_send

HIJACK = {"view_in_browser_url": "https://evil.example/phish", "unsubscribe_url": "https://evil.example/keep"}


def _recipient(delivery: Delivery) -> Recipient:
    c = delivery.contact
    return Recipient(
        delivery_id=delivery.pk,
        contact_id=c.pk,
        email=c.email,
        first_name=c.first_name,
        last_name=c.last_name,
        mobile=c.mobile,
        lms_lead_id=c.lms_lead_id,
    )


def _hijacking_contact_send(body_html: str):  # type: ignore[no-untyped-def]
    contact = make_contacts(1)[0]
    for name, value in HIJACK.items():
        ContactAttribute.objects.create(contact=contact, field_name=name, field_value=value)
    send = started_send([contact], subject="News", body_text="", body_html=body_html)
    return send, Delivery.objects.select_related("contact").get(send=send)


@pytest.mark.django_db
def test_a_contact_attribute_named_view_in_browser_url_does_not_replace_the_link_in_a_sent_email() -> None:
    send, delivery = _hijacking_contact_send('<a href="{{ view_in_browser_url }}">View</a> {{ unsubscribe_url }}')

    email = compose_page(send=send, recipients=[_recipient(delivery)])[0]

    assert "evil.example" not in email.html
    assert "http://testserver/v/" in email.html


@pytest.mark.django_db
def test_a_contact_attribute_named_unsubscribe_url_does_not_replace_the_link_in_a_sent_email() -> None:
    send, delivery = _hijacking_contact_send('<a href="{{ unsubscribe_url }}">Unsubscribe</a>')

    email = compose_page(send=send, recipients=[_recipient(delivery)])[0]

    assert "evil.example" not in email.html
    assert email.headers["List-Unsubscribe"].strip("<>") in email.html


@pytest.mark.django_db
def test_system_variables_win_over_contact_data_in_previews() -> None:
    contact = make_contacts(1)[0]
    for name, value in HIJACK.items():
        ContactAttribute.objects.create(contact=contact, field_name=name, field_value=value)

    rendered = template_services.template_render_preview(
        subject="s", body="{{ view_in_browser_url }} {{ unsubscribe_url }}", templating="text", contact=contact
    )

    assert "evil.example" not in rendered.text
    assert rendered.text.split() == list(template_services.preview_links())[::-1]


@pytest.mark.parametrize(
    "body",
    [
        "{{ view_in_browser_url }} {{ view_url }} {{ unsubscribe_url }}",  # the plain path (PlainMessage)
        "{% if 1 %}{{ view_in_browser_url }} {{ view_url }} {{ unsubscribe_url }}{% endif %}",  # the template path
    ],
)
def test_system_variables_win_on_both_render_paths(body: str) -> None:
    compiled = compile_message(subject="s", body_html=body, body_text=body)
    context = contact_context(attributes=HIJACK, unsubscribe_url="U", view_in_browser_url="V")

    rendered = compiled.render(context)

    assert rendered.html == "V V U"
    assert rendered.text.strip() == "V V U"


def test_a_system_variable_missing_from_the_context_is_empty_not_contact_data() -> None:
    compiled = compile_message(subject="s", body_text="[{{ view_in_browser_url }}][{{ unsubscribe_url }}]")

    assert compiled.render({"attributes": HIJACK}).text.strip() == "[][]"


def test_a_contact_attribute_named_like_a_system_variable_stays_readable_by_its_full_name() -> None:
    compiled = compile_message(subject="s", body_text="{{ attributes.view_in_browser_url }}")

    rendered = compiled.render(contact_context(attributes=HIJACK, view_in_browser_url="V"))

    assert rendered.text.strip() == HIJACK["view_in_browser_url"]
