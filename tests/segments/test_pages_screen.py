"""Issue 12 on the segment pages: the live preview asks for itself on load, the SQL sits behind "Show SQL", and each
page says what a segment is."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from segments import services
from segments.models import Segment

pytestmark = pytest.mark.django_db

RULES = {"op": "and", "conditions": [{"field": "contact.status", "operator": "eq", "value": "subscribed"}]}


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _preview_element(body: str) -> str:
    match = re.search(r'<div id="preview"[^>]*>', body)
    assert match is not None
    return match.group(0)


def test_new_segment_preview_is_requested_on_load_by_the_preview_not_the_form(manager: User) -> None:
    # htmx validates a form before it posts it, so a form-triggered preview of a new (nameless, invalid) segment
    # was never sent: the preview element posts the form's fields itself.
    body = _client(manager).get(reverse("segments:create")).content.decode()
    preview = _preview_element(body)
    assert f'hx-post="{reverse("segments:preview")}"' in preview
    assert 'hx-include="#segment-form"' in preview
    assert re.search(r'hx-trigger="load[,"]', preview)
    form = re.search(r'<form [^>]*id="segment-form"[^>]*>', body)
    assert form is not None and "hx-post" not in form.group(0)


def test_segment_preview_refreshes_on_changes_of_the_form(manager: User) -> None:
    segment = services.segment_create(user=manager, name="Subscribed", type=Segment.Type.RULES, rules=RULES)
    body = _client(manager).get(reverse("segments:edit", args=[segment.pk])).content.decode()
    assert "change delay:400ms from:#segment-form" in _preview_element(body)


def test_rules_segment_sql_is_behind_a_show_sql_toggle(viewer: User, manager: User) -> None:
    segment = services.segment_create(user=manager, name="Subscribed", type=Segment.Type.RULES, rules=RULES)
    body = _client(viewer).get(reverse("segments:detail", args=[segment.pk])).content.decode()
    assert re.search(r'<button[^>]*data-bs-target="#segment-sql"[^>]*>Show SQL</button>', body)
    sql = re.search(r'<div class="collapse" id="segment-sql">(.*?)</div>', body, re.S)
    assert sql is not None
    assert "SELECT" in sql.group(1) and "subscribed" in sql.group(1)


def test_segment_delete_confirms_through_data_confirm_without_inline_script(admin_user: User) -> None:
    segment = services.segment_create(user=admin_user, name="Subscribed", type=Segment.Type.RULES, rules=RULES)
    body = _client(admin_user).get(reverse("segments:detail", args=[segment.pk])).content.decode()
    assert 'data-confirm="Delete this segment?"' in body
    assert "onsubmit" not in body and "onclick" not in body


def test_segment_pages_say_what_a_segment_is(manager: User) -> None:
    segment = services.segment_create(user=manager, name="Subscribed", type=Segment.Type.RULES, rules=RULES)
    client = _client(manager)
    for url in (reverse("segments:list"), reverse("segments:create"), reverse("segments:detail", args=[segment.pk])):
        assert 'id="page-help">A segment is a named group of contacts' in client.get(url).content.decode(), url
