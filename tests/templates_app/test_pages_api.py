from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from delivery.models import OutboxMessage
from templates_app import services
from templates_app.models import MessageTemplate
from tests.segments.util import make_contact

pytestmark = pytest.mark.django_db

MJML = '<mjml><mj-body><mj-section><mj-column><mj-text>Hi {{ first_name|default:"there" }}</mj-text></mj-column></mj-section></mj-body></mjml>'


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _template(name: str = "Welcome") -> MessageTemplate:
    return services.template_create(user=None, name=name, subject="Hello", message=MJML)


def test_list_searches_by_name(viewer: User) -> None:
    _template("Welcome")
    _template("Reminder")
    response = _client(viewer).get(reverse("templates_app:list"), {"q": "remin"})
    assert response.status_code == 200
    assert [t.name for t in response.context["page"]] == ["Reminder"]


def test_detail_renders_as_the_chosen_contact(viewer: User) -> None:
    template = _template()
    ann = make_contact(first_name="Annika")
    response = _client(viewer).get(reverse("templates_app:detail", args=[template.pk]), {"contact": ann.email})
    assert response.status_code == 200
    assert "Hi Annika" in response.context["rendered"].html


def test_viewer_cannot_open_the_edit_form(viewer: User) -> None:
    response = _client(viewer).get(reverse("templates_app:edit", args=[_template().pk]))
    assert response.status_code == 403


def test_viewer_cannot_test_send(viewer: User) -> None:
    url = reverse("templates_app:test-send", args=[_template().pk])
    assert _client(viewer).post(url, {"to": "qa@example.org"}).status_code == 403


def test_create_page_saves_a_valid_template(manager: User) -> None:
    response = _client(manager).post(
        reverse("templates_app:create"),
        {"name": "New", "channel": "email", "templating_type": "mjml", "subject": "Hi", "message": MJML},
    )
    template = MessageTemplate.objects.get(name="New")
    assert response.status_code == 302 and response["Location"] == reverse("templates_app:detail", args=[template.pk])


def test_create_page_shows_the_mjml_error_line(manager: User) -> None:
    response = _client(manager).post(
        reverse("templates_app:create"),
        {"name": "Bad", "channel": "email", "templating_type": "mjml", "subject": "Hi", "message": "<mjml>\n<mj-body>"},
    )
    assert response.status_code == 200
    assert "Line" in response.content.decode()
    assert not MessageTemplate.objects.filter(name="Bad").exists()


def test_live_preview_renders_unsaved_content(manager: User) -> None:
    ann = make_contact(first_name="Zed")
    response = _client(manager).post(
        reverse("templates_app:preview"),
        {"subject": "S {{ first_name }}", "message": MJML, "templating_type": "mjml", "contact": str(ann.pk)},
    )
    assert response.status_code == 200
    assert response.context["rendered"].subject == "S Zed"


def test_live_preview_shows_errors_not_500(manager: User) -> None:
    response = _client(manager).post(
        reverse("templates_app:preview"), {"subject": "s", "message": "{% load x %}", "templating_type": "text"}
    )
    assert response.status_code == 200
    assert response.context["error"].line == 1


def test_test_send_page_sends_through_the_configured_transport(manager: User, settings: Any) -> None:
    settings.EMAIL_TRANSPORT = "outbox"
    url = reverse("templates_app:test-send", args=[_template().pk])
    response = _client(manager).post(url, {"to": "qa@example.org", "contact": ""})
    assert response.status_code == 302
    stored = OutboxMessage.objects.get()
    assert (stored.to, stored.subject, stored.delivery_id) == ("qa@example.org", "[Test] Hello", None)


def test_api_creates_and_lists_templates(api: APIClient) -> None:
    response = api.post(
        "/api/v1/templates", {"name": "A", "subject": "S", "message": MJML, "templating_type": "mjml"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert api.get("/api/v1/templates").json()["count"] == 1


def test_api_rejects_broken_content_with_a_field_message(api: APIClient) -> None:
    response = api.post(
        "/api/v1/templates",
        {"name": "A", "subject": "S", "message": "{% if %}", "templating_type": "text"},
        format="json",
    )
    assert response.status_code == 400
    assert "message" in response.json()


def test_api_viewer_cannot_write(viewer_api: APIClient) -> None:
    response = viewer_api.post("/api/v1/templates", {"name": "A", "subject": "S", "message": "x"}, format="json")
    assert response.status_code == 403


def test_api_renders_as_a_contact(viewer_api: APIClient) -> None:
    template = _template()
    ann = make_contact(first_name="Ann")
    response = viewer_api.get(f"/api/v1/templates/{template.pk}/render", {"contact": str(ann.pk)})
    assert response.status_code == 200
    assert "Hi Ann" in response.json()["text"]
