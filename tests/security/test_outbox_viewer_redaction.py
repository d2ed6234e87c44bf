"""Issue 18 §1: Viewers read the Outbox without live unsubscribe / view-in-browser links (clicking someone's
unsubscribe link would unsubscribe them); Campaign Managers and Admins keep them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from delivery.models import OutboxMessage

pytestmark = pytest.mark.django_db

UNSUB = "http://testserver/u/AbC123:signed/"
VIEW = "http://testserver/v/XyZ789:signed/"
OTHER = "https://example.org/offer"


@pytest.fixture
def message() -> OutboxMessage:
    return OutboxMessage.objects.create(
        to="ann@example.com",
        from_email="herald@example.com",
        subject="Hello",
        body_html=f'<p><a href="{OTHER}">Offer</a> <a href="{VIEW}">View</a> <a href="{UNSUB}">Unsubscribe</a></p>',
        body_text=f"Offer: {OTHER}\nView: {VIEW}\nUnsubscribe: {UNSUB}",
        headers={"List-Unsubscribe": f"<{UNSUB}>"},
    )


def _page(user: User, message: OutboxMessage) -> str:
    client = Client()
    client.force_login(user)
    return client.get(reverse("delivery:outbox-detail", args=[message.pk])).content.decode()


def test_a_viewer_sees_no_unsubscribe_or_view_link_anywhere_on_the_page(viewer: User, message: OutboxMessage) -> None:
    page = _page(viewer, message)

    assert "/u/AbC123" not in page
    assert "/v/XyZ789" not in page


def test_a_viewer_still_sees_the_emails_other_links(viewer: User, message: OutboxMessage) -> None:
    assert f'href="{OTHER}"' in _page(viewer, message)


def test_a_viewer_is_told_the_links_are_hidden(viewer: User, message: OutboxMessage) -> None:
    assert "hidden for Viewers" in _page(viewer, message)


def test_a_campaign_manager_keeps_the_live_links(manager: User, message: OutboxMessage) -> None:
    page = _page(manager, message)

    assert f'href="{UNSUB}"' in page
    assert f'href="{VIEW}"' in page


def test_a_link_under_another_host_with_the_same_path_is_not_hidden(viewer: User) -> None:
    elsewhere = "https://other.example/u/abc/"
    message = OutboxMessage.objects.create(
        to="a@example.com", from_email="h@example.com", subject="S", body_text=elsewhere
    )

    assert elsewhere in _page(viewer, message)


def test_a_viewer_triggers_no_tracked_open_or_click_from_the_outbox(viewer: User) -> None:
    """The pixel and the click redirects would record an open or a click for the recipient (issue 17)."""
    pixel = "http://testserver/t/o/WzEsMl0.c2lnbmF0dXJl"
    click = "http://testserver/t/c/WzEsMiwwLDFd.c2ln.WzEsMl0.c2ln"
    message = OutboxMessage.objects.create(
        to="ann@example.com",
        from_email="herald@example.com",
        subject="Hello",
        body_html=f'<p><a href="{click}">Offer</a></p><img src="{pixel}" width="1" height="1" alt="">',
        body_text=f"Offer: {click}",
    )

    page = _page(viewer, message)

    assert "/t/o/" not in page
    assert "/t/c/" not in page
