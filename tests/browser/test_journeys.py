"""The journey builder in a real browser: create a journey, add, reorder and remove steps, activate it, and see
the journey page. Pictures go to HERALD_SCREENS_DIR when it is set."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from automations import journeys
from automations.journey_models import Journey
from templates_app.models import MessageTemplate

pytestmark = [pytest.mark.browser]

BODY = '<p>Hello {{ first_name|default:"there" }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _add_step(page: Page, kind: str, **fields: str) -> None:
    form = page.locator("#step-add-form")
    form.get_by_label("Step").select_option(kind)
    for label, value in fields.items():
        control = form.get_by_label(label)
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(label=value)
        else:
            control.fill(value)
    form.get_by_role("button", name="Add step").click()


def test_build_a_journey_step_by_step_and_activate_it(page: Page) -> None:
    MessageTemplate.objects.create(
        name="Welcome email", channel="email", templating_type="html", subject="Welcome", message=BODY
    )
    screens = os.environ.get("HERALD_SCREENS_DIR")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/journeys/new/")

    page.get_by_label("Name").fill("Onboarding")
    page.get_by_label("Enters when").select_option("event")
    expect(page.get_by_label("Stage", exact=True)).to_be_visible()
    expect(page.get_by_label("Batch", exact=True)).to_be_hidden()
    page.get_by_label("Stage", exact=True).fill("signed_up")
    page.get_by_role("button", name="Create journey").click()
    expect(page.get_by_text("Journey created as a draft")).to_be_visible()

    _add_step(page, "send", Template="Welcome email")
    expect(page.locator("#add-step").get_by_label("Wait", exact=True)).to_be_hidden()
    _add_step(page, "wait", Wait="2", Unit="days")
    _add_step(page, "exit")
    expect(page.locator("#builder-steps [data-step]")).to_have_count(3)
    expect(page.locator('[data-step-error="w1"]')).to_have_count(0)

    page.get_by_role("button", name="Move w1 up").click()
    expect(page.get_by_text("Step w1 moved up.")).to_be_visible()
    page.get_by_role("button", name="Remove x1").click()
    expect(page.get_by_text("Step x1 removed.")).to_be_visible()
    journey = Journey.objects.get()
    assert [s["key"] for s in journeys.steps_to_json(journey)] == ["w1", "s1"]
    if screens:  # `make screens` only: a full-page picture costs a second
        page.screenshot(path=str(Path(screens) / "journey_builder.png"), full_page=True)

    page.get_by_role("link", name="Done: view the journey").click()
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_text("The journey is active.")).to_be_visible()
    expect(page.get_by_text(re.compile("no contact has ever had an event to stage"))).to_be_visible()
    expect(page.locator("#journey-live[hx-get]")).to_have_count(1)
    if screens:
        page.screenshot(path=str(Path(screens) / "journey_page.png"), full_page=True)
    assert Journey.objects.get().status == Journey.Status.ACTIVE
