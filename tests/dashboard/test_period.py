"""The dashboard's period page (`/dashboard/period/`): every "Last N days" total links to the sends behind it,
each with its report's figures; revenue on the dashboard."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from dashboard import selectors
from dashboard.period import period_overview
from delivery.models import Send
from reports.models import SendReport
from tests.dashboard.fixtures import scenario, send_for

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _sent(subject: str, *, started_days_ago: float = 1, **figures: Any) -> Send:
    send = send_for(scenario(subject=subject), status=Send.Status.DONE, total=10, sent=10)
    Send.objects.filter(pk=send.pk).update(started_at=timezone.now() - dt.timedelta(days=started_days_ago))
    SendReport.objects.create(send=send, computed_at=timezone.now(), **figures)
    return send


def test_dashboard_totals_link_to_the_period_page_by_figure(viewer: User) -> None:
    html = _client(viewer).get("/").content.decode()
    for metric in ("sent", "opened", "clicked", "bounced", "complained", "revenue"):
        assert f"/dashboard/period/?days=30&metric={metric}" in html


def test_period_page_lists_only_the_sends_behind_a_figure_most_first(viewer: User) -> None:
    _sent("Few bounces", bounced=1, sent=10)
    _sent("Many bounces", bounced=4, sent=10)
    _sent("No bounce", bounced=0, sent=10)
    _sent("Too old", started_days_ago=45, bounced=9, sent=10)
    found = period_overview(user=viewer, days=30, metric="bounced")
    assert [row.owner.label for row in found.rows] == ["Many bounces", "Few bounces"]
    response = _client(viewer).get("/dashboard/period/?days=30&metric=bounced")
    assert response.status_code == 200
    assert "Many bounces" in response.content.decode() and "No bounce" not in response.content.decode()


def test_period_page_without_a_figure_lists_every_send_of_the_period_newest_first(viewer: User) -> None:
    _sent("Older", started_days_ago=3)
    _sent("Newer", started_days_ago=1)
    _sent("Too old", started_days_ago=45)
    found = period_overview(user=viewer, days=30)
    assert [row.owner.label for row in found.rows] == ["Newer", "Older"]


def test_period_totals_add_up_the_listed_sends_conversions_and_revenue(viewer: User) -> None:
    _sent("A", conversions=2, revenue=Decimal("100.00"), revenue_view=Decimal("5.00"))
    _sent("B", conversions=1, revenue=Decimal("20.50"))
    found = period_overview(user=viewer, days=30, metric="revenue")
    assert found.sends_totals.counts["conversions"] == 3
    assert found.sends_totals.amounts == {"revenue": Decimal("120.50"), "revenue_view": Decimal("5.00")}
    assert [row.revenue for row in found.rows] == [Decimal("100.00"), Decimal("20.50")]


def test_period_page_hides_the_sends_of_campaigns_the_user_may_not_see(settings: Any, manager: User) -> None:
    settings.CAMPAIGN_OWNERSHIP_ONLY = True
    _sent("Someone else's")
    mine = _sent("Mine")
    campaign = mine.emailer.campaign
    campaign.created_by = manager
    campaign.save(update_fields=["created_by"])
    assert [row.owner.label for row in period_overview(user=manager, days=30).rows] == ["Mine"]


def test_period_page_needs_a_login() -> None:
    assert Client().get("/dashboard/period/").status_code == 302


def test_recently_finished_shows_the_revenue_of_the_computed_report(viewer: User) -> None:
    send = send_for(scenario(subject="Paying"), status=Send.Status.DONE, total=5, sent=5, finished_at=timezone.now())
    SendReport.objects.create(
        send=send, computed_at=timezone.now(), conversions=1, revenue=Decimal("49.90"), revenue_view=Decimal("9")
    )
    (row,) = selectors.recently_finished(user=viewer)
    assert row.revenue == Decimal("49.90")
    assert "49.90" in _client(viewer).get("/").content.decode()


def test_dashboard_revenue_adds_up_the_sends_of_the_window(viewer: User) -> None:
    _sent("In", revenue=Decimal("30.00"))
    _sent("Out", started_days_ago=45, revenue=Decimal("999.00"))
    assert selectors.period_revenue(now=timezone.now()) == Decimal("30.00")
