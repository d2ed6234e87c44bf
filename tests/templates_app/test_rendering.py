from __future__ import annotations

import pytest

from templates_app import rendering
from templates_app.rendering import TemplateError, compile_message, contact_context

MJML = """<mjml>
<mj-body>
<mj-section>
<mj-column>
<mj-text>Hi {{ first_name|default:"there" }}, welcome to {{ city|default:"campus" }}.</mj-text>
<mj-button href="{{ view_in_browser_url }}">View in browser</mj-button>
<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
</mj-column>
</mj-section>
</mj-body>
</mjml>"""


def test_defaults_fill_missing_values() -> None:
    compiled = compile_message(subject='Hello {{ first_name|default:"there" }}', body_mjml=MJML)
    rendered = compiled.render(contact_context())
    assert rendered.subject == "Hello there"
    assert "Hi there, welcome to campus." in rendered.text


def test_contact_fields_and_attributes_are_personalised() -> None:
    compiled = compile_message(subject="Hi {{ first_name }}", body_mjml=MJML)
    rendered = compiled.render(contact_context(first_name="Ann", attributes={"city": "Oslo"}))
    assert rendered.subject == "Hi Ann"
    assert "Hi Ann, welcome to Oslo." in rendered.html


def test_attributes_are_reachable_by_dotted_name() -> None:
    compiled = compile_message(subject="s", body_text="Score {{ attributes.score }}")
    assert compiled.render(contact_context(attributes={"score": 7})).text.strip() == "Score 7"


def test_html_escapes_contact_values_but_text_and_subject_do_not() -> None:
    compiled = compile_message(subject="{{ first_name }}", body_html="<p>{{ first_name }}</p>")
    rendered = compiled.render(contact_context(first_name="A&B <x>"))
    assert "A&amp;B &lt;x&gt;" in rendered.html
    assert rendered.text.strip() == "A&B <x>"
    assert rendered.subject == "A&B <x>"


def test_text_part_is_generated_from_html_with_links() -> None:
    compiled = compile_message(subject="s", body_mjml=MJML)
    rendered = compiled.render(contact_context(first_name="Ann", unsubscribe_url="https://h.test/u/1"))
    assert "Unsubscribe (https://h.test/u/1)" in rendered.text
    assert "<" not in rendered.text
    assert "mj-" not in rendered.text and "font-family" not in rendered.text


def test_engine_view_url_also_fills_view_in_browser_url() -> None:
    compiled = compile_message(subject="s", body_text="{{ view_in_browser_url }}")
    assert compiled.render({"view_url": "https://h.test/v/1"}).text.strip() == "https://h.test/v/1"


def test_mjml_error_reports_its_line() -> None:
    broken = MJML.replace("</mj-column>\n", "")
    with pytest.raises(TemplateError) as info:
        compile_message(subject="s", body_mjml=broken)
    assert info.value.line == 4
    assert info.value.source == "mjml"
    assert "mj-column" in str(info.value)


def test_template_syntax_error_reports_its_line() -> None:
    with pytest.raises(TemplateError) as info:
        compile_message(subject="s", body_text="line one\nline two {% if x %}\nline three")
    assert info.value.line == 2


@pytest.mark.parametrize(
    "source",
    ['{% load static %}{% static "x" %}', '{% include "base.html" %}', '{% extends "base.html" %}', "{% debug %}"],
)
def test_sandbox_refuses_tags_that_reach_outside(source: str) -> None:
    with pytest.raises(TemplateError):
        compile_message(subject="s", body_text=source)


def test_sandbox_has_no_settings_in_context() -> None:
    compiled = compile_message(subject="s", body_text="[{{ settings.SECRET_KEY }}][{{ request.user }}]")
    assert compiled.render(contact_context(first_name="Ann")).text.strip() == "[][]"


def test_sandbox_refuses_underscore_lookups() -> None:
    with pytest.raises(TemplateError):
        compile_message(subject="s", body_text="{{ first_name.__class__.__mro__ }}")


def test_mj_include_cannot_read_files() -> None:
    source = '<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>'
    with pytest.raises(TemplateError):
        compile_message(subject="s", body_mjml=source)


def test_repeated_variables_and_block_tags_render_like_django() -> None:
    source = (
        "{{ first_name }} {% if vip %}VIP {{ first_name }}{% endif %} {% cycle 'a' 'b' as c %}{{ c }} "
        "{% for t in tags %}{{ t }},{% endfor %} {{ first_name|upper }}"
    )
    compiled = compile_message(subject="s", body_text=source)
    out = compiled.render(contact_context(first_name="ann", attributes={"vip": True, "tags": ["x", "y"]})).text
    assert out.strip() == "ann VIP ann aa x,y, ANN"


def test_compile_template_uses_the_templating_type() -> None:
    class T:
        templating_type = "text"
        subject = "Hi {{ first_name }}"
        message = "<b>{{ first_name }}</b>"

    rendered = rendering.compile_template(template=T()).render(contact_context(first_name="Ann"))
    assert rendered.html == ""
    assert rendered.text.strip() == "<b>Ann</b>"


def test_template_variables_lists_reads_outside_loops() -> None:
    used = rendering.template_variables(
        '{{ first_name|default:"x" }} {{ attributes.city }} {{ plan }} {% for t in tags %}{{ t.name }}{% endfor %}'
        " {% if score > 3 %}{{ unsubscribe_url }}{% endif %}"
    )
    by_name = {v.expression: v for v in used}
    assert set(by_name) == {"first_name", "attributes.city", "plan", "tags", "score", "unsubscribe_url"}
    assert by_name["first_name"].has_default
    assert by_name["attributes.city"].attribute == "city"
    assert by_name["plan"].attribute == "plan"


def test_fast_render_matches_django_stock_render() -> None:
    from django.template import Context, Engine

    source = (
        '{{ first_name|default:"there" }}|{{ attributes.city }}|{{ city|default:"x" }}|{{ attributes.nested.k }}|'
        "{{ attributes.items }}|{{ missing.deep }}|{{ score|add:1 }}|{{ tags.0 }}|{{ vip }}|{{ none|default:'n' }}|"
        "{{ first_name|upper }}|{{ email|urlencode }}|{{ html }}|{{ html|safe }}|{{ True }}"
    )
    values = contact_context(
        first_name="Ann",
        email="a+b@x.org",
        attributes={
            "city": "Oslo",
            "nested": {"k": "v"},
            "score": 4,
            "tags": ["t0"],
            "vip": False,
            "none": None,
            "html": "<b>&</b>",
        },
    )
    stock = Engine(autoescape=True).from_string(source)
    expected = stock.render(Context(rendering.personalisation_context(values), autoescape=True))
    compiled = compile_message(subject="s", body_html=source)
    assert compiled.render(values).html == expected


def test_padding_filters_are_capped() -> None:
    compiled = compile_message(subject="s", body_text='[{{ first_name|ljust:"999999999" }}]')
    assert len(compiled.render(contact_context(first_name="Ann")).text.strip()) == rendering.MAX_PAD_WIDTH + 2
