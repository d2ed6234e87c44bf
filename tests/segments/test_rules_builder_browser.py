"""The rules builder (static/segments/rules_builder.js) in a real Chromium: a new field starts with an empty value.

Uses the browser suite's fixtures (tests/browser/conftest.py); skipped with its reason where no Chromium exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from segments import services
from segments.models import Segment
from tests.browser.conftest import PageWatch, _playwright, browser, new_context, watch  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

RULES = {"op": "and", "conditions": [{"field": "contact.status", "operator": "eq", "value": "subscribed"}]}


def test_switching_a_condition_from_status_to_email_clears_the_value(
    new_context: Callable[..., Any],  # noqa: F811
    watch: PageWatch,  # noqa: F811
    manager: User,
) -> None:
    segment = services.segment_create(user=manager, name="Subscribed", type=Segment.Type.RULES, rules=RULES)
    page = new_context(manager).new_page()
    page.goto(f"/segments/{segment.pk}/edit/")
    condition = page.locator(".rule-condition").first
    condition.locator("select").nth(1).select_option("contact.email")
    rules = json.loads(page.locator("#id_rules").input_value())
    [only] = rules["conditions"]
    assert only["field"] == "contact.email"
    assert only.get("value", "") == ""
    assert condition.locator("input.form-control").first.input_value() == ""
