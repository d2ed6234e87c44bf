"""Issue 13 §2: the dashboard, admin and API docs run under a Content-Security-Policy with no inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from templates_app.models import MessageTemplate

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def _directives(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    parts = [p.strip().split() for p in response["Content-Security-Policy"].split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_dashboard_pages_allow_only_same_origin_scripts(admin_user: User) -> None:
    response = _logged_in(admin_user).get("/campaigns/")
    directives = _directives(response)

    assert response.status_code == 200
    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]


def test_dashboard_pages_cannot_be_framed_and_forms_post_only_to_herald(admin_user: User) -> None:
    directives = _directives(_logged_in(admin_user).get("/campaigns/"))

    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]


def test_the_login_page_has_the_policy(client: Client) -> None:
    response = client.get("/login/")

    assert _directives(response)["script-src"] == ["'self'"]


def test_no_dashboard_template_has_an_inline_script_or_event_handler() -> None:
    offenders = []
    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = path.read_text()
        if INLINE_SCRIPT.search(text) or INLINE_HANDLER.search(text):
            offenders.append(str(path.relative_to(settings.BASE_DIR)))

    assert offenders == []


@pytest.mark.parametrize("path", ["/campaigns/quick/", "/campaigns/", "/templates/", "/contacts/", "/outbox/"])
def test_dashboard_pages_render_without_inline_script(admin_user: User, path: str) -> None:
    response = _logged_in(admin_user).get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html)


def test_the_quick_campaign_page_loads_its_script_from_static_files(admin_user: User, client: Client) -> None:
    html = _logged_in(admin_user).get("/campaigns/quick/").content.decode()

    assert re.search(r'<script src="/static/campaigns/quick(\.[0-9a-f]+)?\.js">', html)
    assert client.get("/static/campaigns/quick.js").status_code == 200


def test_api_docs_page_has_no_inline_script_and_its_start_script_is_same_origin(admin_user: User) -> None:
    client = _logged_in(admin_user)
    page = client.get("/api/docs/")
    html = page.content.decode()

    assert page.status_code == 200
    assert not INLINE_SCRIPT.search(html)
    script = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html)
    assert script is not None
    start = client.get(script.group(1).replace("&amp;", "&"))
    assert start.status_code == 200
    assert start["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in start.content


def test_api_docs_assets_are_served_from_herald(admin_user: User, client: Client) -> None:
    html = _logged_in(admin_user).get("/api/docs/").content.decode()

    for asset in re.findall(r'(?:src|href)="(/static/drf_spectacular_sidecar/[^"]+)"', html):
        assert client.get(asset).status_code == 200


@pytest.mark.parametrize("path", ["/admin/", "/admin/login/", "/admin/auth/user/", "/admin/auth/user/add/"])
def test_admin_pages_work_under_the_policy(admin_user: User, client: Client, path: str) -> None:
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    if path != "/admin/login/":
        client.force_login(admin_user)

    response = client.get(path)

    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert not INLINE_SCRIPT.search(response.content.decode())


def test_email_preview_pages_let_the_emails_images_load(admin_user: User) -> None:
    template = MessageTemplate.objects.create(
        name="t", subject="s", message='<p><img src="https://cdn.example/logo.png"></p>', templating_type="html"
    )

    response = _logged_in(admin_user).get(f"/templates/{template.pk}/")
    directives = _directives(response)

    assert response.status_code == 200
    assert "https:" in directives["img-src"]
    assert directives["script-src"] == ["'self'"]
