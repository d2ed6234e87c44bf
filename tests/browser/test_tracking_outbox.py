"""The Outbox (embedded mode) shows an email as sent: its links are the click redirects, and they work locally."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from playwright.sync_api import Page, expect

from delivery import services
from delivery.models import OutboxMessage, TrackingEvent
from delivery.services import tracking
from tests.delivery.helpers import make_contacts, started_send

pytestmark = [pytest.mark.browser]


def test_the_outbox_shows_tracked_links_that_redirect_to_the_original(
    page: Page, live_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.HERALD_BASE_URL = live_server.url
    settings.OUTBOX_AS_INBOX = True  # the embedded default: the Outbox stands in for the inbox (shows tracking)
    settings.TRACKING_BUFFER = "direct"  # stored by the request itself: the test reads the row at once
    # live_server's database commits, so send_start's on-commit callbacks would run and enqueue page 0: the
    # package's Celery worker (alive when an earlier browser test sent) would then send it with the worker's own
    # HERALD_BASE_URL before this process does. The page is sent here, with this test's base URL.
    with monkeypatch.context() as patched:
        patched.setattr(transaction, "on_commit", lambda *args, **kwargs: None)
        send = started_send(
            make_contacts(1),
            subject="Autumn news",
            body_text="",
            body_html='<h1>Autumn news</h1><p>Hi, see <a href="https://example.org/offer?id=7">the offer</a>.</p>',
        )
    services.page_send(send_id=send.pk, page=0)
    message = OutboxMessage.objects.get()

    page.goto(f"/outbox/{message.pk}/")

    link = page.locator(f'a[href^="{live_server.url}/t/c/"]').first
    expect(link).to_be_visible()
    response = page.request.get(link.get_attribute("href") or "", max_redirects=0)
    assert response.status == 302
    assert response.headers["location"] == "https://example.org/offer?id=7"
    page.screenshot(path="/tmp/h1_outbox.png", full_page=True)
    click = TrackingEvent.objects.get(kind="click")
    assert click.url == "https://example.org/offer?id=7"
    assert tracking.tracking_buffer_mode() == "direct"


def test_the_campaign_form_shows_the_tracking_switches_ticked(page: Page) -> None:
    page.goto("/campaigns/new/")

    expect(page.get_by_label("Track opens")).to_be_checked()
    expect(page.get_by_label("Track clicks")).to_be_checked()
    page.screenshot(path="/tmp/h1_campaign_form.png", full_page=True)
