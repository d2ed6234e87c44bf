"""The per-recipient fast paths the send engine relies on give byte-identical results to Django's own code:
the plain-content render (templates_app.rendering.PlainMessage) and the unsubscribe/view token signer."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import signing
from django.template import Context

from delivery.tokens import UNSUBSCRIBE_SALT, VIEW_SALT, token_make, token_read
from templates_app import rendering
from templates_app.rendering import compile_message, contact_context

SOURCES = [
    "Hello {{ first_name }} {{ last_name }}, {{ first_name }} again <{{ email }}>",
    '{{ first_name|default:"there" }} {{ nickname|default:"<b>friend</b>" }} {{ score|default:0 }}',
    "{{ attributes.city }} {{ city }} {{ attributes.nested.k }} {{ attributes.nested.missing }} {{ missing.deep }}",
    "{{ email|urlencode }} {{ first_name|upper }} {{ first_name|lower|capfirst }} {{ score|add:1 }} {{ tags.0 }}",
    "{{ html }} {{ html|safe }} {{ html|escape }} {{ html|striptags }} {{ vip }} {{ none }} {{ ratio }} {{ True }}",
    '{{ bio|linebreaksbr }} {{ tags|join:", " }} {{ when|date:"Y" }} {{ first_name|default:last_name }}',
    'body { color: red } a{{ "{" }}b {{ first_name|default:"{0}" }} }} {0} {{ braces }}',
    "{{ first_name|slice:':2' }}{{ first_name|length }}{{ tags|length }}{{ first_name|safe|upper }}{{ html|safe|slice:':5' }}",
]

CONTACTS = [
    contact_context(first_name="Ann", last_name="O'Brien", email="a+b@x.org"),
    contact_context(
        first_name='<Zoë & "Co">',
        last_name="",
        email="z@x.org",
        attributes={
            "city": "Oslo",
            "nested": {"k": "v<"},
            "score": 4,
            "tags": ["t0", "<t1>"],
            "vip": False,
            "none": None,
            "ratio": 0.5,
            "html": "<i>&amp;</i>",
            "bio": "line 1\nline <2>",
            "braces": "{0} {first_name}",
            "nickname": "",
            "when": "2026-11-23",
        },
    ),
    contact_context(),
]


def _django(template: Any, values: dict[str, Any], *, autoescape: bool) -> str:
    return template.render(Context(values, autoescape=autoescape))


@pytest.mark.parametrize("source", SOURCES)
def test_plain_render_is_byte_identical_to_djangos_template_render(source: str) -> None:
    compiled = compile_message(subject=source, body_text=source, body_html=source)
    assert compiled._plain is not None  # no block tags: the fast path renders it
    for context in CONTACTS:
        values = rendering.personalisation_context(context)
        rendered = compiled.render(context)

        assert rendered.html == _django(compiled.html, values, autoescape=True)
        assert rendered.text == _django(compiled.text, values, autoescape=False).strip() + "\n"
        assert rendered.subject == " ".join(_django(compiled.subject, values, autoescape=False).split())


def test_content_with_block_tags_renders_through_the_template_path() -> None:
    compiled = compile_message(subject="s", body_html="{% if vip %}VIP {% endif %}{{ first_name }}")

    assert compiled._plain is None
    assert compiled.render(contact_context(first_name="Ann", attributes={"vip": True})).html == "VIP Ann"


@pytest.mark.parametrize("salt", [UNSUBSCRIBE_SALT, VIEW_SALT])
def test_tokens_are_the_ones_djangos_signer_makes_and_reads(salt: str) -> None:
    for delivery_id, contact_id in [(1, 2), (123456789012, 42), (7, 10**15)]:
        token = token_make(delivery_id=delivery_id, contact_id=contact_id, salt=salt)

        assert token == signing.Signer(salt=salt).sign_object([delivery_id, contact_id])
        data = token_read(token=token, salt=salt)
        assert data is not None
        assert (data.delivery_id, data.contact_id) == (delivery_id, contact_id)


def test_tokens_follow_a_changed_secret_key(settings) -> None:  # type: ignore[no-untyped-def]
    before = token_make(delivery_id=1, contact_id=2, salt=UNSUBSCRIBE_SALT)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"

    after = token_make(delivery_id=1, contact_id=2, salt=UNSUBSCRIBE_SALT)

    assert after != before
    assert after == signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object([1, 2])
