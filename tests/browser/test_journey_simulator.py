"""The journey simulator in a real browser: a contact's steps with dates, the branch and why, the goal checks.
Pictures go to HERALD_SCREENS_DIR when it is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from automations import journeys
from contacts.models import Contact
from segments.models import Segment, SegmentMember
from templates_app.models import MessageTemplate

pytestmark = [pytest.mark.browser]

BODY = '<p>Hello {{ first_name|default:"there" }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def test_simulate_a_contact_from_the_journey_page(page: Page) -> None:
    t1, t2, t3 = (
        MessageTemplate.objects.create(name=s, channel="email", templating_type="html", subject=s, message=BODY)
        for s in ("Welcome", "VIP offer", "Tips")
    )
    segment = Segment.objects.create(name="VIP", type=Segment.Type.MANUAL)
    ann = Contact.objects.create(email="ann@example.com", first_name="Ann")
    SegmentMember.objects.create(segment=segment, contact=ann)
    journey = journeys.journey_create(
        name="Onboarding",
        trigger={"type": "event", "to_stage": "signed_up"},
        goal={"type": "event", "to_stage": "converted"},
        timezone="Europe/Paris",
        steps=[
            {"key": "s1", "type": "send", "template": t1.pk},
            {"key": "w1", "type": "wait", "minutes": 2880},
            {"key": "b1", "type": "branch", "condition": {"type": "segment", "segment": segment.pk}}
            | {"yes": "s2", "no": "s3"},
            {"key": "s2", "type": "send", "template": t2.pk, "next": "w2"},
            {"key": "s3", "type": "send", "template": t3.pk},
            {"key": "w2", "type": "wait_until", "time": "09:00", "weekdays": [1, 2, 3, 4, 5]},
            {"key": "x1", "type": "exit"},
        ],
    )
    journeys.journey_activate(journey_id=journey.pk)

    page.goto(f"/journeys/{journey.pk}/")
    page.get_by_role("link", name="Simulate").click()
    page.get_by_label("Contact (email or id)").fill("ann@example.com")
    page.get_by_role("button", name="Simulate this contact").click()
    card = page.locator(f"#sim-{ann.pk}")
    expect(card).to_contain_text("enters now")
    expect(card).to_contain_text("meets: member of segment “VIP”")
    expect(card.locator("tr.sim-sent")).to_have_count(2)
    expect(card).to_contain_text("an event to stage “converted” or an unsubscribe")
    screens = os.environ.get("HERALD_SCREENS_DIR")
    if screens:
        page.screenshot(path=str(Path(screens) / "journey_simulate.png"), full_page=True)
