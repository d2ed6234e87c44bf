"""The calendar in a real browser: a Campaign Manager drags a draft scenario to another day."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns import services as campaign_services
from campaigns.models import Scenario

pytestmark = [pytest.mark.browser]


def test_drag_a_draft_scenario_to_another_day(page: Page, manager: User) -> None:
    today = timezone.localdate()
    campaign = campaign_services.campaign_create(
        name="Calendar launch",
        start_date=today,
        end_date=today + dt.timedelta(days=60),
        timezone="UTC",
        user=manager,
    )
    # Days in the same week, so both cells are in the week view whatever today is.
    monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(days=7)
    draft = campaign_services.scenario_create(
        campaign=campaign,
        subject="Doors open",
        content="Hello",
        send_date=monday,
        send_time=dt.time(10, 0),
        draft=True,
        user=manager,
    )
    page.goto(f"/calendar/?view=week&date={monday.isoformat()}")
    item = page.locator("[data-move-url]").filter(has_text="Doors open")
    target = page.locator(f'[data-day="{(monday + dt.timedelta(days=2)).isoformat()}"]')
    item.drag_to(target)

    expect(page.get_by_role("status")).to_contain_text("moved to")
    expect(target).to_contain_text("Doors open")
    draft.refresh_from_db()
    assert draft.send_date == monday + dt.timedelta(days=2)
    assert draft.status == Scenario.Status.DRAFT
