"""The dashboard in a real browser, one user task per test: what a marketer clicks and what they then see.

The locators are the visible words (labels, button names, headings), not markup ids, so the tests survive
changes of layout; the outcome is checked on the page and, where the page is not the whole truth, in the database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from campaigns import services as campaign_services
from campaigns.models import Campaign, Scenario
from contacts.models import Contact
from delivery.models import OutboxMessage
from segments.models import Segment, SegmentMember
from templates_app.models import MessageTemplate
from tests.factories import ContactFactory, add_to_batch

from .conftest import SEND_TIMEOUT_MS, Worker, percent, wait_for_status

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PEOPLE = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing")]


def _campaign_with_people(manager: User, *, name: str = "Spring launch") -> tuple[Campaign, list[Contact]]:
    today = timezone.localdate()
    campaign = campaign_services.campaign_create(
        name=name,
        start_date=today - dt.timedelta(days=1),
        end_date=today + dt.timedelta(days=30),
        timezone="UTC",
        user=manager,
    )
    people = [
        Contact.objects.create(email=f"{first.lower()}@example.com", first_name=first, last_name=last)
        for first, last in PEOPLE
    ]
    add_to_batch(campaign.batch, people)
    return campaign, people


def _draft(campaign: Campaign, manager: User, *, subject: str = "Doors open on Friday") -> Scenario:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    return campaign_services.scenario_create(
        campaign=campaign,
        subject=subject,
        content="Hello {{ first_name }}, the doors open on Friday at 7.",
        send_date=tomorrow,
        send_time=dt.time(10, 0),
        draft=True,
        user=manager,
    )


def _sent_email(manager: User, worker: Worker) -> OutboxMessage:
    """A scenario really sent by the worker to three people; Ada's email."""
    campaign, _ = _campaign_with_people(manager)
    scenario = _draft(campaign, manager)
    worker.start()
    campaign_services.scenario_send(scenario_id=scenario.pk, user=manager)
    wait_for_status(scenario.pk, Scenario.Status.SENT, worker)
    return OutboxMessage.objects.get(to="ada@example.com")


def test_log_in(new_context: Callable[..., BrowserContext], manager: User) -> None:
    page = new_context().new_page()
    page.goto("/")

    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill("pass12345")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()
    expect(page.get_by_text(manager.username)).to_be_visible()


def test_create_a_campaign(page: Page) -> None:
    today = timezone.localdate()
    page.goto("/campaigns/new/")

    page.get_by_label("Name", exact=False).first.fill("Autumn open day")
    page.get_by_label("Start date").fill(str(today))
    page.get_by_label("End date").fill(str(today + dt.timedelta(days=14)))
    page.get_by_role("button", name="Create campaign").click()

    expect(page.get_by_role("heading", name="Autumn open day")).to_be_visible()
    campaign = Campaign.objects.get(name="Autumn open day")
    expect(page).to_have_url(re.compile(rf"/campaigns/{campaign.pk}/$"))
    assert (campaign.start_date, campaign.end_date) == (today, today + dt.timedelta(days=14))


def test_upload_a_csv_into_a_campaign(page: Page, manager: User, tmp_path: Path) -> None:
    campaign, _ = _campaign_with_people(manager, name="Newsletter")
    campaign.batch.members.all().delete()
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("name,email\nAda Lovelace,ada@example.com\nGrace Hopper,grace@example.com\n")
    page.goto(f"/campaigns/{campaign.pk}/")

    page.get_by_label("CSV file").set_input_files(csv_file)
    page.get_by_role("button", name="Upload CSV").click()

    expect(page.get_by_role("alert").filter(has_text="people.csv")).to_contain_text("imported")
    expect(page.get_by_text(re.compile(r"\b2 contacts\b")).first).to_be_visible()
    assert set(campaign.batch.members.values_list("contact__email", flat=True)) == {
        "ada@example.com",
        "grace@example.com",
    }


def test_create_a_scenario_and_send_it(page: Page, manager: User, worker: Worker) -> None:
    campaign, people = _campaign_with_people(manager)
    worker.start()
    page.goto(f"/campaigns/{campaign.pk}/")

    page.get_by_role("link", name="New scenario").click()
    page.get_by_label("Subject").fill("Doors open on Friday")
    page.get_by_label("Content").fill("Hello {{ first_name }}, the doors open on Friday at 7.")
    page.get_by_label("Send date").fill(str(timezone.localdate() + dt.timedelta(days=1)))
    page.get_by_label("Send time").fill("10:00")
    page.get_by_role("button", name="Create scenario").click()
    expect(page).not_to_have_url(re.compile(r"/scenarios/new/$"))
    scenario = Scenario.objects.get(campaign=campaign)
    if page.url.endswith(f"/campaigns/{campaign.pk}/"):  # the form may land on the campaign or on the scenario
        page.get_by_role("link", name="Doors open on Friday").click()
    page.get_by_role("button", name="Send now").click()

    expect(page.get_by_text("Sent", exact=True).first).to_be_visible(timeout=SEND_TIMEOUT_MS)
    wait_for_status(scenario.pk, Scenario.Status.SENT, worker)
    sent = {m.to: m.body_text for m in OutboxMessage.objects.filter(subject="Doors open on Friday")}
    assert sorted(sent) == sorted(p.email for p in people)
    assert "Hello Grace, the doors open on Friday at 7." in sent["grace@example.com"]


def test_progress_reaches_100_percent_without_a_reload(page: Page, manager: User, worker: Worker) -> None:
    campaign, _ = _campaign_with_people(manager)
    scenario = _draft(campaign, manager)
    worker.start()
    worker.pause()  # the send waits in the queue until the page is watching
    page.goto(f"/campaigns/scenarios/{scenario.pk}/")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_role("alert").filter(has_text="sending")).to_be_visible()
    expect(page.get_by_role("progressbar")).to_have_count(0)
    # A marker on this document: any reload or navigation from now on would wipe it.
    page.evaluate("window.__heraldNoReload = true")

    worker.resume()

    expect(page.get_by_role("progressbar").first).to_contain_text(percent(100), timeout=SEND_TIMEOUT_MS)
    expect(page.get_by_text("3 / 3 sent")).to_be_visible()
    assert page.evaluate("window.__heraldNoReload === true"), "the page reloaded to show the progress"


def test_the_sent_email_is_in_the_outbox(page: Page, manager: User, worker: Worker) -> None:
    _sent_email(manager, worker)
    page.goto("/")

    page.get_by_role("link", name="Outbox").click()
    expect(page.get_by_role("row").filter(has_text="ada@example.com")).to_contain_text("Doors open on Friday")
    page.get_by_role("row").filter(has_text="ada@example.com").get_by_role("link", name="Doors open on Friday").click()

    expect(page.get_by_role("heading", name="Doors open on Friday")).to_be_visible()
    expect(page.get_by_text("Hello Ada, the doors open on Friday at 7.")).to_be_visible()


def test_unsubscribe_through_the_link_in_the_email(
    new_context: Callable[..., BrowserContext],
    manager: User,
    live_server: object,
    worker: Worker,
) -> None:
    message = _sent_email(manager, worker)
    page = new_context(manager).new_page()
    page.goto(f"/outbox/{message.pk}/")
    href = page.locator("a[href*='/u/']").first.get_attribute("href") or ""
    # The worker writes links for HERALD_BASE_URL (a fixed host in the test settings): follow the link's own
    # path and token on the live server, as the recipient's browser would on the real host.
    assert href.startswith(settings.HERALD_BASE_URL + "/"), href
    link = urlsplit(href)

    recipient = new_context().new_page()  # the recipient is not signed in to the dashboard
    recipient.goto(link.path + (f"?{link.query}" if link.query else ""))
    recipient.get_by_role("button", name="Unsubscribe").click()

    expect(recipient.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    assert Contact.objects.get(email="ada@example.com").status == Contact.Status.UNSUBSCRIBED
    assert Contact.objects.get(email="grace@example.com").status == Contact.Status.SUBSCRIBED


def test_rules_segment_shows_the_live_count(page: Page) -> None:
    for first in ("Ada", "Grace", "Alan"):
        ContactFactory(email=f"{first.lower()}@acme.test", first_name=first)
    ContactFactory.create_batch(2)
    page.goto("/segments/new/")

    page.get_by_label("Name").fill("Acme people")
    page.get_by_label("Type").select_option("rules")
    page.get_by_role("button", name=re.compile(r"condition", re.I)).click()
    page.locator("#rules-builder select:has(option[value='contact.email'])").select_option("contact.email")
    page.locator("#rules-builder select:has(option[value='contains'])").select_option("contains")
    page.get_by_placeholder("value").fill("@acme.test")

    expect(page.get_by_text(re.compile(r"^\s*3\s+contacts? match"))).to_be_visible()
    expect(page.get_by_text("grace@acme.test")).to_be_visible()


def test_edit_a_template_and_see_the_preview(page: Page) -> None:
    ContactFactory(email="ada@example.com", first_name="Ada")
    template = MessageTemplate.objects.create(
        name="Newsletter",
        channel=MessageTemplate.Channel.EMAIL,
        templating_type=MessageTemplate.TemplatingType.HTML,
        subject="News",
        message='<p>Hello {{ first_name|default:"there" }}</p>',
    )
    page.goto(f"/templates/{template.pk}/edit/")

    _replace_code(page, '<h1>Spring sale</h1><p>Hi {{ first_name|default:"friend" }}, everything is 20 % off.</p>')
    page.get_by_label("Preview as contact").fill("ada@example.com")

    preview = page.frame_locator("iframe").first
    expect(preview.get_by_role("heading", name="Spring sale")).to_be_visible()
    expect(preview.get_by_text("Hi Ada, everything is 20 % off.")).to_be_visible()


def test_quick_campaign_sends_to_a_segment(page: Page, worker: Worker) -> None:
    segment = Segment.objects.create(name="Members", type=Segment.Type.MANUAL)
    members = [Contact.objects.create(email=f"member{i}@example.com") for i in range(3)]
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=c) for c in members])
    ContactFactory(email="outsider@example.com")
    worker.start()
    page.goto("/campaigns/")

    page.get_by_role("link", name=re.compile(r"quick campaign", re.I)).first.click()
    page.get_by_label("Campaign name").fill("Tonight")
    page.get_by_label("Subject").fill("Doors open at 7")
    page.get_by_label("Content").fill("See you tonight.")
    page.get_by_label("A segment").check()
    page.get_by_label("Segment", exact=True).select_option(label="Members")
    page.get_by_label("Send now").check()
    page.get_by_role("button", name="Create and send").click()

    expect(page.get_by_role("progressbar").first).to_contain_text(percent(100), timeout=SEND_TIMEOUT_MS)
    scenario = wait_for_status(Scenario.objects.get(subject="Doors open at 7").pk, Scenario.Status.SENT, worker)
    assert sorted(m.to for m in OutboxMessage.objects.filter(subject="Doors open at 7")) == sorted(
        c.email for c in members
    )
    assert scenario.campaign.name == "Tonight"


def _replace_code(page: Page, text: str) -> None:
    """Put `text` in the template's message, whether it is a plain textarea or a code editor over one."""
    textarea = page.get_by_label("Message")
    if textarea.is_visible():
        textarea.fill(text)
        return
    editor = page.locator(".cm-content, .CodeMirror, [contenteditable='true']").first
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(text)
