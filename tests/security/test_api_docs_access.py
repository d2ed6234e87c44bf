"""Issue 18 §1: the OpenAPI schema and docs need a login unless API_DOCS_PUBLIC (off in production, on in the
embedded default)."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from accounts import services
from tests.security.test_production_settings import _production_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_docs(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_DOCS_PUBLIC = False


def test_the_schema_refuses_an_anonymous_client(private_docs: None) -> None:
    assert APIClient().get("/api/schema/").status_code in (401, 403)


def test_the_docs_page_sends_an_anonymous_browser_to_the_login(private_docs: None) -> None:
    response = Client().get("/api/docs/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/api/docs/")


def test_a_signed_in_viewer_reads_the_docs_and_the_schema(private_docs: None, viewer: User) -> None:
    client = Client()
    client.force_login(viewer)

    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200


def test_an_api_key_reads_the_schema(private_docs: None, viewer: User) -> None:
    _, raw = services.api_key_create(owner=viewer, name="x", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert client.get("/api/schema/").status_code == 200


def test_api_docs_public_keeps_them_open(settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_DOCS_PUBLIC = True

    assert APIClient().get("/api/schema/").status_code == 200
    assert Client().get("/api/docs/").status_code == 200


def test_production_keeps_the_docs_private_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _production_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_DOCS_PUBLIC", raising=False)

    production = importlib.reload(importlib.import_module("config.settings.production"))

    assert production.API_DOCS_PUBLIC is False


def test_the_embedded_default_keeps_the_docs_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_DOCS_PUBLIC", raising=False)

    local = importlib.reload(importlib.import_module("config.settings.local"))

    assert local.API_DOCS_PUBLIC is True
