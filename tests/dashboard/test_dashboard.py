"""The dashboard at `/`: what sends next, what sends now, what just finished (rates equal to a hand count), and
the last 30 days' totals from the pre-aggregate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from automations.models import Automation
from campaigns.models import Scenario
from dashboard import selectors, services
from dashboard.models import DailyStat
from delivery.models import Send
from tests.dashboard.fixtures import automation, contacts, deliveries, journey_with_due, scenario, send_for

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def page(user: User) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_home_is_the_dashboard_for_any_role(viewer: User) -> None:
    assert "What sends next" in page(viewer)


def test_home_needs_login() -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_next_sends_lists_scheduled_scenarios_automation_firings_and_due_journeys(clock: object, viewer: User) -> None:
    later = scenario(send_date=NOW.date() + dt.timedelta(days=1), send_time=dt.time(8, 0), subject="Tomorrow's letter")
    scenario(send_date=NOW.date(), send_time=dt.time(11, 0), subject="Draft one", status=Scenario.Status.DRAFT)
    digest = automation("Daily digest", "0 9 * * *")
    automation("Paused one", "0 9 * * *", is_active=False)
    journey_with_due(due=3, later=2)
    found = selectors.next_sends(user=viewer, now=NOW)
    kinds = [(item.kind, item.label) for item in found.items]
    assert kinds == [("Journey", "Welcome"), ("Scenario", later.subject), ("Automation", digest.name)]
    assert found.items[1].at == dt.datetime(2026, 12, 8, 8, 0, tzinfo=dt.UTC)
    assert found.items[2].at == dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)
    assert found.automations_firing == 1
    assert found.journeys_due == 3


def test_automation_past_its_end_date_does_not_fire(clock: object, viewer: User) -> None:
    automation("Ended", "0 9 * * *", end_date=NOW.date())
    found = selectors.next_sends(user=viewer, now=NOW)
    assert found.items == [] and found.automations_firing == 0


def test_sending_now_shows_live_progress_of_sending_and_paused_sends(viewer: User) -> None:
    live = send_for(scenario(subject="Going out"), status=Send.Status.SENDING, total=200, sent=50)
    send_for(scenario(subject="Held"), status=Send.Status.PAUSED, total=10, sent=2)
    send_for(scenario(subject="Done already"), status=Send.Status.DONE, total=5, sent=5, finished_at=timezone.now())
    rows = selectors.sending_now(user=viewer)
    assert [(r.owner.label, r.progress.status) for r in rows] == [("Held", "paused"), ("Going out", "sending")]
    assert rows[1].percent == 25 and rows[1].send.pk == live.pk


def test_sending_fragment_polls_and_renders_the_bar(viewer: User) -> None:
    send_for(scenario(subject="Going out"), status=Send.Status.SENDING, total=200, sent=50)
    client = Client()
    client.force_login(viewer)
    html = client.get("/dashboard/sending/").content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "Going out" in html and "width: 25%" in html


def test_finished_send_rates_equal_a_hand_count(viewer: User) -> None:
    letter = scenario(subject="November news")
    send = send_for(letter, status=Send.Status.DONE, total=10, sent=10, finished_at=timezone.now())
    # 10 sent, 1 bounced -> 9 reached; 4 opened, 2 of them clicked.
    deliveries(send, contacts(10), sent_at=timezone.now() - dt.timedelta(hours=3), opened=4, clicked=2, bounced=1)
    (row,) = selectors.recently_finished(user=viewer)
    assert (row.send.sent, row.opened, row.clicked, row.bounced, row.reached) == (10, 4, 2, 1, 9)
    assert row.open_rate == pytest.approx(100 * 4 / 9)
    assert row.click_rate == pytest.approx(100 * 2 / 9)
    html = page(viewer)
    assert "44.4%" in html and "22.2%" in html
    assert f"/campaigns/scenarios/{letter.pk}/" in html


def test_finished_send_links_to_its_report_or_the_scenario_page(viewer: User) -> None:
    letter = scenario(subject="Linked")
    send_for(letter, status=Send.Status.DONE, total=1, sent=1, finished_at=timezone.now())
    (row,) = selectors.recently_finished(user=viewer)
    expected = selectors.url_or("reports:scenario", letter.pk, fallback=f"/campaigns/scenarios/{letter.pk}/")
    assert row.owner.report_url == expected


def test_daily_stats_refresh_counts_sends_opens_and_clicks_by_day(clock: object) -> None:
    letter = scenario()
    send = send_for(letter, status=Send.Status.DONE, total=6, sent=6, finished_at=NOW)
    two_days_ago = NOW - dt.timedelta(days=2)
    people = contacts(6)
    deliveries(
        send, people[:4], sent_at=two_days_ago, opened=3, clicked=1, bounced=1, opened_at=NOW - dt.timedelta(hours=1)
    )
    deliveries(send, people[4:], sent_at=NOW - dt.timedelta(hours=2), opened=1)
    assert services.daily_stats_refresh(now=NOW) == 31
    days = {d.day: d for d in DailyStat.objects.all()}
    early, today = days[two_days_ago.date()], days[NOW.date()]
    assert (early.sent, early.opened, early.clicked, early.bounced) == (4, 0, 0, 1)
    assert (today.sent, today.opened, today.clicked) == (2, 4, 1)


def test_last_days_totals_equal_the_hand_count_and_show_on_the_page(clock: object, viewer: User) -> None:
    send = send_for(scenario(), status=Send.Status.DONE, total=8, sent=8, finished_at=NOW)
    deliveries(send, contacts(8), sent_at=NOW - dt.timedelta(days=5), opened=5, clicked=3, bounced=1)
    old = send_for(scenario(), status=Send.Status.DONE, total=3, sent=3, finished_at=NOW)
    deliveries(old, contacts(3), sent_at=NOW - dt.timedelta(days=40), opened=3, opened_at=NOW - dt.timedelta(days=39))
    services.daily_stats_refresh(now=NOW)
    totals = selectors.last_days(now=NOW)
    assert len(totals.days) == 30
    assert (totals.sent, totals.opened, totals.clicked, totals.bounced) == (8, 5, 3, 1)
    assert totals.open_rate == pytest.approx(100 * 5 / 7)
    html = page(viewer)
    assert 'id="total-sent"><a href="/dashboard/period/?days=30&metric=sent">8</a>' in html
    assert "<svg" in html and "dashboard-trend" in html


def test_dashboard_tick_enqueues_the_refresh_once_per_period(
    clock: object, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core.cache import cache

    from dashboard import tasks

    cache.delete(services.REFRESH_KEY)
    calls: list[int] = []
    monkeypatch.setattr(tasks.daily_stats_refresh_task, "delay", lambda: calls.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.dashboard_tick(now=NOW) == 1
        assert services.dashboard_tick(now=NOW) == 0
    cache.delete(services.REFRESH_KEY)
    assert calls == [1]


def test_refresh_twice_writes_the_same_rows(clock: object) -> None:
    send = send_for(scenario(), status=Send.Status.DONE, total=2, sent=2, finished_at=NOW)
    deliveries(send, contacts(2), sent_at=NOW - dt.timedelta(days=1), opened=1)
    services.daily_stats_refresh(now=NOW)
    first = list(DailyStat.objects.values_list("day", "sent", "opened"))
    services.daily_stats_refresh(now=NOW)
    assert list(DailyStat.objects.values_list("day", "sent", "opened")) == first


def test_automation_links_to_its_page(clock: object, viewer: User) -> None:
    digest = automation("Weekly", "30 7 * * 1")
    assert f'href="/automations/{digest.pk}/"' in page(viewer)
    assert Automation.objects.count() == 1


def test_finished_automation_run_is_listed_with_its_automation(viewer: User) -> None:
    from automations.models import AutomationRun
    from tests.dashboard.fixtures import run

    digest = automation("Weekly digest", "0 8 * * 1")
    due = timezone.now() - dt.timedelta(hours=2)
    send = Send.objects.create(subject="Digest", status=Send.Status.DONE, total=3, sent=3, finished_at=timezone.now())
    automation_run = run(digest, due_at=due, status=AutomationRun.Status.SENT)
    AutomationRun.objects.filter(pk=automation_run.pk).update(send=send)
    (row,) = selectors.recently_finished(user=viewer)
    assert (row.owner.kind, row.owner.label) == ("Automation", "Weekly digest")
    assert f"/automations/{digest.pk}/runs/{automation_run.pk}/" == row.owner.url


def test_campaign_ownership_hides_other_managers_sends(settings: Any, manager: User) -> None:
    settings.CAMPAIGN_OWNERSHIP_ONLY = True
    theirs = scenario(subject="Someone else's")
    mine = scenario(subject="Mine")
    mine.campaign.created_by = manager
    mine.campaign.save(update_fields=["created_by"])
    send_for(theirs, status=Send.Status.SENDING, total=10, sent=1)
    send_for(mine, status=Send.Status.SENDING, total=10, sent=1)
    assert [r.owner.label for r in selectors.sending_now(user=manager)] == ["Mine"]


def test_conversion_rate_comes_from_the_computed_send_report(viewer: User) -> None:
    from reports.models import SendReport

    send = send_for(
        scenario(subject="Converting"), status=Send.Status.DONE, total=10, sent=10, finished_at=timezone.now()
    )
    deliveries(send, contacts(10), sent_at=timezone.now() - dt.timedelta(hours=3), opened=5, clicked=4, bounced=2)
    SendReport.objects.create(send=send, computed_at=timezone.now(), conversions=2)
    (row,) = selectors.recently_finished(user=viewer)
    assert row.conversions == 2
    assert row.conversion_rate == pytest.approx(100 * 2 / 8)
    assert "25.0%" in page(viewer)


def test_conversions_show_a_dash_until_the_report_is_computed(viewer: User) -> None:
    send_for(scenario(subject="Fresh"), status=Send.Status.DONE, total=1, sent=1, finished_at=timezone.now())
    (row,) = selectors.recently_finished(user=viewer)
    assert row.conversions is None and row.conversion_rate is None
