"""The template form: code editor (vendored CodeMirror, plain textarea without JS), starter skeleton and gallery,
the WhatsApp note, and the "send me a test" on the template page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from templates_app import services, starters
from templates_app.models import MessageTemplate

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _new(user: User, **params: str) -> Client:
    return _client(user).get(reverse("templates_app:create"), params)  # type: ignore[return-value]


# --- starters ----------------------------------------------------------------------------------------------


def test_new_template_opens_on_the_skeleton_with_an_unsubscribe_link(manager: User) -> None:
    form = _new(manager).context["form"]  # type: ignore[attr-defined]
    assert form.initial["message"] == starters.SKELETON.message
    assert form.initial["templating_type"] == "mjml"
    assert "{{ unsubscribe_url }}" in form.initial["message"]
    assert form.initial["name"] == ""


def test_create_page_shows_the_gallery_of_starters(manager: User) -> None:
    body = _new(manager).content.decode()  # type: ignore[attr-defined]
    for key in ("newsletter", "announcement", "welcome", "plain"):
        assert f'href="?starter={key}"' in body


def test_choosing_a_starter_prefills_the_form_with_it(manager: User) -> None:
    response = _new(manager, starter="newsletter")
    form = response.context["form"]  # type: ignore[attr-defined]
    assert (form.initial["name"], form.initial["subject"]) == ("Newsletter", starters.NEWSLETTER.subject)
    assert form.initial["message"] == starters.NEWSLETTER.message
    assert 'href="?starter=newsletter" aria-current="true"' in response.content.decode()  # type: ignore[attr-defined]


def test_plain_starter_is_a_text_template(manager: User) -> None:
    form = _new(manager, starter="plain").context["form"]  # type: ignore[attr-defined]
    assert form.initial["templating_type"] == MessageTemplate.TemplatingType.TEXT
    assert "{{ unsubscribe_url }}" in form.initial["message"]


def test_an_unknown_starter_opens_the_skeleton(manager: User) -> None:
    form = _new(manager, starter="nope").context["form"]  # type: ignore[attr-defined]
    assert form.initial["message"] == starters.SKELETON.message


@pytest.mark.parametrize("starter", starters.GALLERY, ids=lambda s: s.key)
def test_every_starter_compiles_and_passes_the_pre_send_check(starter: starters.Starter) -> None:
    rendered = services.template_render_preview(
        subject=starter.subject, body=starter.message, templating=starter.templating_type, contact=None
    )
    check = services.template_check(subject=starter.subject, body=starter.message, templating=starter.templating_type)
    assert rendered.subject and "{{" not in rendered.subject
    assert check.compiles and check.has_unsubscribe
    assert check.warnings == []


def test_saving_a_starter_as_it_is_creates_the_template(manager: User) -> None:
    s = starters.WELCOME
    response = _client(manager).post(
        reverse("templates_app:create") + "?starter=welcome",
        {
            "name": s.title,
            "channel": s.channel,
            "templating_type": s.templating_type,
            "subject": s.subject,
            "message": s.message,
        },
    )
    created = MessageTemplate.objects.get()
    assert response.status_code == 302
    assert (created.name, created.message) == ("Welcome", s.message.strip())


def test_edit_page_shows_no_gallery(manager: User) -> None:
    template = services.template_create(user=None, name="T", subject="Hi", message=starters.SKELETON.message)
    response = _client(manager).get(reverse("templates_app:edit", args=[template.pk]))
    assert 'id="starter-gallery"' not in response.content.decode()
    assert response.context["form"].initial["message"] == starters.SKELETON.message


def test_viewer_gets_403_on_the_create_page(viewer: User) -> None:
    assert _new(viewer, starter="newsletter").status_code == 403  # type: ignore[attr-defined]


def test_viewer_gets_403_when_posting_a_new_template(viewer: User) -> None:
    s = starters.PLAIN
    response = _client(viewer).post(
        reverse("templates_app:create"),
        {"name": "X", "channel": "email", "templating_type": s.templating_type, "subject": "Hi", "message": s.message},
    )
    assert response.status_code == 403
    assert not MessageTemplate.objects.exists()


# --- code editor -------------------------------------------------------------------------------------------


def test_message_stays_a_plain_textarea_marked_for_the_code_editor(manager: User) -> None:
    body = _new(manager).content.decode()  # type: ignore[attr-defined]
    textarea = re.search(r"<textarea[^>]*name=\"message\"[^>]*>", body)
    assert textarea is not None
    assert "data-code-editor" in textarea.group(0)
    # Without JavaScript the textarea is the editor: it holds the starter's source.
    assert "&lt;mjml&gt;" in body


def test_form_loads_the_vendored_editor_with_no_inline_script(manager: User) -> None:
    body = _new(manager).content.decode()  # type: ignore[attr-defined]
    for path in (
        "vendor/codemirror/lib/codemirror.js",
        "vendor/codemirror/lib/codemirror.css",
        "vendor/codemirror/mode/xml/xml.js",
        "vendor/codemirror/mode/htmlmixed/htmlmixed.js",
        "templates_app/editor.js",
    ):
        assert f"/static/{path}" in body, path
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body) is None
    assert re.search(r"\son[a-z]+=", body) is None


@pytest.mark.parametrize(
    "path",
    [
        "vendor/codemirror/LICENSE",
        "vendor/codemirror/lib/codemirror.js",
        "vendor/codemirror/lib/codemirror.css",
        "vendor/codemirror/mode/xml/xml.js",
        "vendor/codemirror/mode/htmlmixed/htmlmixed.js",
        "vendor/codemirror/mode/css/css.js",
        "vendor/codemirror/mode/javascript/javascript.js",
        "vendor/codemirror/addon/edit/closetag.js",
        "vendor/codemirror/addon/fold/xml-fold.js",
        "templates_app/editor.js",
        "templates_app/editor.css",
    ],
)
def test_editor_static_files_are_vendored(path: str) -> None:
    assert finders.find(path), path


# --- WhatsApp note and test send ---------------------------------------------------------------------------


def test_channel_help_says_whatsapp_templates_cannot_be_sent_yet(manager: User) -> None:
    body = _new(manager).content.decode()  # type: ignore[attr-defined]
    assert "WhatsApp templates are stored for later" in body
    assert "cannot send them yet" in body


def test_template_page_offers_a_test_send_to_the_signed_in_user(manager: User) -> None:
    template = services.template_create(user=None, name="T", subject="Hi", message=starters.SKELETON.message)
    response = _client(manager).get(reverse("templates_app:detail", args=[template.pk]))
    assert response.context["test_form"].initial["to"] == manager.email
    assert reverse("templates_app:test-send", args=[template.pk]) in response.content.decode()


def test_a_starter_submitted_with_browser_crlf_line_ends_saves(manager: User) -> None:
    s = starters.NEWSLETTER
    response = _client(manager).post(
        reverse("templates_app:create"),
        {
            "name": "From a browser",
            "channel": "email",
            "templating_type": s.templating_type,
            "subject": s.subject,
            "message": s.message.replace("\n", "\r\n"),
        },
    )
    assert response.status_code == 302
    assert MessageTemplate.objects.get().message == s.message.strip()
