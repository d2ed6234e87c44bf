"""The main pages as a user sees them, with a little realistic data: they render without a browser problem, and
`make screens` (HERALD_SCREENS_DIR=docs/screens) keeps the pictures in docs/screens/ for the next reader.

Elsewhere the PNGs go to the test's temporary directory, so a plain run checks the pages without touching the tree.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns import services as campaign_services
from campaigns.models import Scenario
from contacts.models import Contact
from templates_app.models import MessageTemplate
from tests.factories import add_to_batch

from .conftest import SEND_TIMEOUT_MS, Worker, percent, wait_for_status

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PEOPLE = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Alan", "Turing"),
    ("Katherine", "Johnson"),
    ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"),
    ("Donald", "Knuth"),
    ("Margaret", "Hamilton"),
    ("Dennis", "Ritchie"),
    ("Frances", "Allen"),
    ("Ken", "Thompson"),
    ("Radia", "Perlman"),
]

NEWSLETTER = """<!doctype html>
<html><body style="margin:0;font-family:Arial,sans-serif;background:#f4f5f7">
  <table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:24px">
    <table width="560" cellpadding="0" cellspacing="0" style="background:#ffffff;border-radius:6px">
      <tr><td style="background:#1f3a5f;color:#ffffff;padding:20px 28px;font-size:20px">Herald Academy</td></tr>
      <tr><td style="padding:28px">
        <h1 style="margin:0 0 12px;font-size:22px">Spring courses are open</h1>
        <p>Hi {{ first_name|default:"there" }},</p>
        <p>Enrolment for the spring term opens today. Book a seat before Friday and get the early-bird price.</p>
        <p><a href="https://example.com/courses" style="background:#0d6efd;color:#ffffff;padding:10px 18px;
          border-radius:4px;text-decoration:none">See the courses</a></p>
      </td></tr>
      <tr><td style="padding:16px 28px;color:#6c757d;font-size:12px">
        <a href="{{ unsubscribe_url }}">Unsubscribe</a></td></tr>
    </table>
  </td></tr></table>
</body></html>
"""


def _screens_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("HERALD_SCREENS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_main_pages_render_cleanly(page: Page, manager: User, worker: Worker, tmp_path: Path) -> None:
    today = timezone.localdate()
    template = MessageTemplate.objects.create(
        name="Spring newsletter",
        channel=MessageTemplate.Channel.EMAIL,
        templating_type=MessageTemplate.TemplatingType.HTML,
        subject='Spring courses are open, {{ first_name|default:"friend" }}',
        message=NEWSLETTER,
    )
    campaign = campaign_services.campaign_create(
        name="Spring enrolment",
        description="Invite last year's students to the spring term, then remind those who did not book.",
        start_date=today - dt.timedelta(days=2),
        end_date=today + dt.timedelta(days=28),
        timezone="UTC",
        user=manager,
    )
    people = [
        Contact.objects.create(email=f"{first.lower()}.{last.lower()}@example.com", first_name=first, last_name=last)
        for first, last in PEOPLE
    ]
    add_to_batch(campaign.batch, people)
    sent = campaign_services.scenario_create(
        campaign=campaign,
        subject="Spring courses are open",
        template=template,
        send_date=today + dt.timedelta(days=1),
        send_time=dt.time(9, 0),
        draft=True,
        user=manager,
    )
    campaign_services.scenario_create(
        campaign=campaign,
        subject="Last seats for the spring term",
        content="Hello {{ first_name }}, a few seats are left. Book by Friday.",
        send_date=today + dt.timedelta(days=7),
        send_time=dt.time(10, 30),
        user=manager,
    )
    worker.start()
    campaign_services.scenario_send(scenario_id=sent.pk, user=manager)
    wait_for_status(sent.pk, Scenario.Status.SENT, worker)
    screens = _screens_dir(tmp_path)

    page.goto(f"/campaigns/{campaign.pk}/")
    expect(page.get_by_role("heading", name="Spring enrolment")).to_be_visible()
    page.screenshot(path=screens / "campaign.png")

    page.goto(f"/campaigns/scenarios/{sent.pk}/")
    expect(page.get_by_role("progressbar").first).to_contain_text(percent(100), timeout=SEND_TIMEOUT_MS)
    page.screenshot(path=screens / "scenario.png")

    page.goto(f"/templates/{template.pk}/edit/")
    expect(page.frame_locator("iframe").first.get_by_text("Spring courses are open")).to_be_visible()
    page.screenshot(path=screens / "template.png")

    page.goto("/contacts/")
    expect(page.get_by_text("ada.lovelace@example.com")).to_be_visible()
    page.screenshot(path=screens / "contacts.png")

    page.get_by_role("link", name="ada.lovelace@example.com").click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    page.screenshot(path=screens / "contact.png")
