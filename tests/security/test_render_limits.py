"""Issue 13 §3: a template cannot hang a worker or a web process: render time and output size are capped."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth.models import User
from django.template import Context
from django.test import Client
from rest_framework.test import APIClient

from templates_app.models import MessageTemplate
from templates_app.rendering import (
    MAX_PAD_WIDTH,
    RenderError,
    RenderLimitExceeded,
    compile_message,
    contact_context,
)

S200 = "x" * 200
# The preview: three nested loops over 200 characters, 8M iterations (7.8 s and 8 MB before the cap).
EIGHT_MILLION = (
    f'{{% for a in "{S200}" %}}{{% for b in "{S200}" %}}{{% for c in "{S200}" %}}x{{% endfor %}}{{% endfor %}}'
    "{% endfor %}"
)


@pytest.fixture
def fast_limit(settings):  # type: ignore[no-untyped-def]
    settings.TEMPLATE_RENDER_MAX_SECONDS = 0.2
    return settings


def test_eight_million_loop_iterations_stop_at_the_time_limit_with_a_clear_error(settings) -> None:  # type: ignore[no-untyped-def]
    # Out of reach of the 8 MB output: on a fast machine the default byte limit would stop the loops first.
    settings.TEMPLATE_RENDER_MAX_BYTES = 100_000_000
    compiled = compile_message(subject="s", body_text=EIGHT_MILLION)
    # CPU time, not wall time: on a loaded machine the 2 s wall limit is reached with less work done, and a wall
    # clock would also count the time other processes ran (the test failed in loaded full runs).
    started = time.process_time()

    with pytest.raises(RenderLimitExceeded, match=r"took longer than 2 s"):
        compiled.render(contact_context())

    assert time.process_time() - started < 3.0


def test_the_time_limit_comes_from_settings(fast_limit) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_message(subject="s", body_text=EIGHT_MILLION)
    started = time.process_time()

    with pytest.raises(RenderLimitExceeded, match=r"0\.2 s"):
        compiled.render(contact_context())

    assert time.process_time() - started < 1.0


def test_output_over_the_byte_limit_stops_inside_the_loop(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TEMPLATE_RENDER_MAX_BYTES = 100_000
    body = f'{{% for a in "{S200}" %}}{{% for b in "{S200}" %}}{"y" * 1000}{{% endfor %}}{{% endfor %}}'  # 40 MB
    compiled = compile_message(subject="s", body_html=body)

    with pytest.raises(RenderLimitExceeded, match="larger than 100,000 bytes"):
        compiled.render(contact_context())


def test_output_over_the_byte_limit_without_loops_is_refused(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TEMPLATE_RENDER_MAX_BYTES = 1000
    compiled = compile_message(subject="s", body_text="{{ first_name }}")

    with pytest.raises(RenderLimitExceeded):
        compiled.render(contact_context(first_name="z" * 2000))


def test_nested_loop_output_is_counted_once(settings) -> None:  # type: ignore[no-untyped-def]
    settings.TEMPLATE_RENDER_MAX_BYTES = 50_000
    # 10 x 10 x 400 = 40,000 characters: under the limit, however deep the loops that produced them.
    body = f'{{% for a in "0123456789" %}}{{% for b in "0123456789" %}}{"y" * 400}{{% endfor %}}{{% endfor %}}'

    assert len(compile_message(subject="s", body_text=body).render(contact_context()).text) == 40_001


def test_a_bare_template_render_is_bounded_too(fast_limit) -> None:  # type: ignore[no-untyped-def]
    compiled = compile_message(subject="s", body_text=EIGHT_MILLION)
    assert compiled.text is not None

    with pytest.raises(RenderLimitExceeded):
        compiled.text.render(Context({}))


def test_each_thread_renders_with_its_own_budget(fast_limit) -> None:  # type: ignore[no-untyped-def]
    slow = compile_message(subject="s", body_text=EIGHT_MILLION)
    quick = compile_message(subject="s", body_text='{% for a in "abc" %}{{ a }}{% endfor %}')
    errors: list[Exception] = []

    def hang() -> None:
        try:
            slow.render(contact_context())
        except RenderLimitExceeded as exc:
            errors.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    for _ in range(50):
        assert quick.render(contact_context()).text == "abc\n"
    thread.join()

    assert len(errors) == 1


@pytest.mark.parametrize("expression", ['first_name|stringformat:"0999999999d"', 'first_name|floatformat:"999999999"'])
def test_format_filters_cannot_build_a_huge_string(expression: str) -> None:
    compiled = compile_message(subject="s", body_text="[{{ " + expression + " }}]")

    assert compiled.render(contact_context(first_name="3")).text.strip() == "[]"


def test_format_filters_still_work_within_the_cap() -> None:
    compiled = compile_message(subject="s", body_text='{{ n|stringformat:"05d" }} {{ pi|floatformat:2 }}')

    rendered = compiled.render(contact_context(attributes={"n": 7, "pi": 3.14159}))

    assert rendered.text.strip() == "00007 3.14"
    assert MAX_PAD_WIDTH == 1000


def test_a_runtime_render_error_is_a_template_error_with_the_line() -> None:
    compiled = compile_message(subject="s", body_html="<p>\n\n{% for a, b in first_name %}{{ a }}{% endfor %}</p>")

    with pytest.raises(RenderError) as caught:
        compiled.render(contact_context(first_name="Ann"))

    assert caught.value.line == 3
    assert "unpack" in str(caught.value)


@pytest.mark.django_db
def test_the_dashboard_preview_a_viewer_can_reach_stops_with_a_clear_error(viewer: User, fast_limit) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(viewer)
    started = time.monotonic()

    response = client.post("/templates/preview/", {"subject": "s", "message": EIGHT_MILLION, "templating_type": "text"})

    assert response.status_code == 200
    assert "took longer than 0.2 s" in response.content.decode()
    assert time.monotonic() - started < 2.0


@pytest.mark.django_db
def test_the_api_render_preview_answers_400_with_the_limit(api: APIClient, fast_limit) -> None:  # type: ignore[no-untyped-def]
    template = MessageTemplate.objects.create(name="t", subject="s", message=EIGHT_MILLION, templating_type="text")

    response = api.get(f"/api/v1/templates/{template.pk}/render")

    assert response.status_code == 400
    assert "took longer than" in response.json()["message"]
