"""What the scenario and automation-run pages show while a large send's audience is still being written (the
two-part snapshot: the first page is out, the rest of the audience follows)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from automations.models import Automation, AutomationRun
from campaigns.models import Emailer, Scenario
from delivery.models import Send
from segments.models import Segment
from templates_app.models import MessageTemplate
from tests.factories import ScenarioFactory

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SHOTS = "/tmp/h6_{}.png"


def _snapshotting_send() -> Send:
    return Send.objects.create(
        subject="Spring news",
        status=Send.Status.SENDING,
        total=100,
        sent=100,
        pages=1,
        next_page=1,
        started_at=timezone.now() - dt.timedelta(seconds=2),
        snapshot_rest_sql="SELECT 1",
    )


def test_scenario_page_says_the_rest_of_the_audience_is_being_prepared(page: Page) -> None:
    scenario = ScenarioFactory.create(status=Scenario.Status.SENDING, subject="Spring news")
    Emailer.objects.create(
        campaign=scenario.campaign,
        scenario=scenario,
        batch=scenario.campaign.batch,
        scheduled_at=timezone.now(),
        dispatched_at=timezone.now(),
        started_at=timezone.now(),
        send=_snapshotting_send(),
    )

    page.goto(f"/campaigns/scenarios/{scenario.pk}/")

    expect(page.locator("#scenario-preparing")).to_contain_text("preparing the rest of the audience (100 written")
    expect(page.locator("#scenario-recipients")).to_have_text("being prepared (100 so far)")
    expect(page.get_by_text("/ 100 sent")).to_have_count(0)
    page.screenshot(path=SHOTS.format("scenario_preparing"), full_page=True)


def test_automation_run_page_says_the_rest_of_the_segment_is_being_prepared(page: Page) -> None:
    segment = Segment.objects.create(name="Everyone", type=Segment.Type.MANUAL)
    template = MessageTemplate.objects.create(
        name="News", channel="email", templating_type="text", subject="News", message="Hi {{ unsubscribe_url }}"
    )
    automation = Automation.objects.create(name="Weekly news", segment=segment, template=template, cron="0 9 * * 1")
    run = AutomationRun.objects.create(
        automation=automation,
        due_at=timezone.now(),
        status=AutomationRun.Status.RUNNING,
        started_at=timezone.now(),
        send=_snapshotting_send(),
    )

    page.goto(f"/automations/{automation.pk}/runs/{run.pk}/")

    expect(page.locator("#run-preparing")).to_contain_text("preparing the rest of the segment (100 written so far)")
    expect(page.locator("#run-total")).to_have_count(0)
    page.screenshot(path=SHOTS.format("run_preparing"), full_page=True)
