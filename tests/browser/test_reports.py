"""Report pages in a real browser: the figures, the server-side SVG charts and the contact's emails render under
the dashboard's CSP with no console error (the `watch` fixture fails the test on any)."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from tests.reports.conftest import Fixture, hand_counted  # noqa: F401 - the fixture, used by name

pytestmark = [pytest.mark.browser]
SHOTS = os.environ.get("HERALD_REPORT_SHOTS", "")  # a folder to keep screenshots in (looked at by hand)


def _shot(page: Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def test_scenario_report_shows_figures_charts_and_links(page: Page, hand_counted: Fixture) -> None:  # noqa: F811
    page.goto(f"/reports/scenarios/{hand_counted.scenario.pk}/")
    expect(page.get_by_role("heading", name=f"Report: {hand_counted.scenario.subject}")).to_be_visible()
    expect(page.locator("#figure-sent")).to_contain_text("5")
    expect(page.locator("#figure-conversions")).to_contain_text("1")
    expect(page.locator("#chart-hours svg polyline")).to_have_count(3)
    expect(page.get_by_role("cell", name="https://example.com/offer")).to_be_visible()
    _shot(page, "h2_report.png")


def test_scenario_page_links_to_its_report(page: Page, hand_counted: Fixture) -> None:  # noqa: F811
    page.goto(f"/campaigns/scenarios/{hand_counted.scenario.pk}/")
    page.get_by_role("link", name="Report").click()
    expect(page.get_by_role("heading", name=f"Report: {hand_counted.scenario.subject}")).to_be_visible()


def test_contact_page_lists_the_emails_received(page: Page, hand_counted: Fixture) -> None:  # noqa: F811
    page.goto(f"/contacts/{hand_counted.contacts['a'].pk}/")
    section = page.locator("#contact-deliveries")
    expect(section).to_contain_text("Emails received")
    expect(section).to_contain_text("after a click")
    _shot(page, "h2_contact.png")


def test_automation_page_links_to_its_report(page: Page) -> None:
    from tests.reports.conftest import automation_run_with_send

    run, _send = automation_run_with_send()
    page.goto(f"/automations/{run.automation_id}/")
    _shot(page, "h2_automation.png")
    page.get_by_role("link", name="Report", exact=True).click()
    expect(page.get_by_role("heading", name="Report: Weekly")).to_be_visible()
