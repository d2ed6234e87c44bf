"""Conversion attribution: inside and outside the window, click before delivery, last touch wins."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from contacts.models import Contact, FunnelEvent
from reports import services
from reports.attribution import contact_credits, send_conversions
from reports.compute import send_report_compute
from tests.factories import ContactFactory
from tests.reports.conftest import T0, deliver, funnel, scenario_with_send

pytestmark = pytest.mark.django_db


def _counts(**kwargs: Any) -> tuple[int, int]:
    conversions = send_conversions(**kwargs)
    return conversions.click, conversions.view


WEEK = dt.timedelta(days=7)


def _contact() -> Contact:
    return cast(Contact, ContactFactory())


def test_conversion_inside_the_window_after_a_click_is_credited_to_the_send() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    deliver(send, c, delivered_at=T0, clicked_at=T0 + dt.timedelta(hours=1))
    funnel(c, T0 + dt.timedelta(days=6, hours=23))
    assert _counts(send_id=send.pk, stage="converted", window=WEEK, since=T0) == (1, 0)


def test_conversion_after_the_window_is_not_credited() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    deliver(send, c, delivered_at=T0, clicked_at=T0 + dt.timedelta(hours=1))
    funnel(c, T0 + dt.timedelta(days=7, hours=2))
    assert _counts(send_id=send.pk, stage="converted", window=WEEK, since=T0) == (0, 0)


def test_conversion_before_the_click_is_not_a_click_conversion() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    deliver(send, c, status="sent", delivered_at=T0, clicked_at=T0 + dt.timedelta(hours=5))
    funnel(c, T0 + dt.timedelta(hours=2))
    # No click before it: the delivery two hours earlier touched the contact, so it is a view-through.
    assert _counts(send_id=send.pk, stage="converted", window=WEEK, since=T0) == (0, 1)


def test_conversion_without_a_click_is_reported_apart_as_view_through() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    deliver(send, c, delivered_at=T0)
    funnel(c, T0 + dt.timedelta(days=3))
    assert _counts(send_id=send.pk, stage="converted", window=WEEK, since=T0) == (0, 1)


def test_bounced_email_gets_no_view_through_credit() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    deliver(send, c, status="bounced")
    funnel(c, T0 + dt.timedelta(days=1))
    assert _counts(send_id=send.pk, stage="converted", window=WEEK, since=T0) == (0, 0)


def test_the_last_click_wins_over_an_earlier_one() -> None:
    _s1, first = scenario_with_send()
    _s2, second = scenario_with_send(started_at=T0 + dt.timedelta(days=1))
    c = _contact()
    deliver(first, c, clicked_at=T0 + dt.timedelta(hours=1))
    deliver(second, c, clicked_at=T0 + dt.timedelta(days=1, hours=1))
    funnel(c, T0 + dt.timedelta(days=2))
    assert _counts(send_id=first.pk, stage="converted", window=WEEK, since=T0) == (0, 0)
    assert _counts(send_id=second.pk, stage="converted", window=WEEK, since=T0) == (1, 0)


def test_a_click_beats_a_later_delivery_without_click() -> None:
    _s1, clicked = scenario_with_send()
    _s2, later = scenario_with_send(started_at=T0 + dt.timedelta(days=1))
    c = _contact()
    deliver(clicked, c, delivered_at=T0, clicked_at=T0 + dt.timedelta(hours=1))
    deliver(later, c, delivered_at=T0 + dt.timedelta(days=1))
    funnel(c, T0 + dt.timedelta(days=2))
    assert _counts(send_id=clicked.pk, stage="converted", window=WEEK, since=T0) == (1, 0)
    assert _counts(send_id=later.pk, stage="converted", window=WEEK, since=T0) == (0, 0)


def test_only_the_goal_stage_counts() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    deliver(send, c, clicked_at=T0 + dt.timedelta(hours=1))
    funnel(c, T0 + dt.timedelta(days=1), stage="signed_up")
    assert _counts(send_id=send.pk, stage="converted", window=WEEK, since=T0) == (0, 0)
    assert _counts(send_id=send.pk, stage="signed_up", window=WEEK, since=T0) == (1, 0)


def test_a_campaign_goal_changes_stage_and_window_of_its_sends() -> None:
    scenario, send = scenario_with_send()
    c = _contact()
    deliver(send, c, clicked_at=T0 + dt.timedelta(hours=1))
    funnel(c, T0 + dt.timedelta(days=10), stage="paid")
    assert send_report_compute(send_id=send.pk).conversions == 0
    services.conversion_goal_set(owner_type="campaign", owner_id=scenario.campaign_id, stage="paid", window_days=14)
    report = send_report_compute(send_id=send.pk)
    assert (report.conversions, report.goal_stage, report.window_days) == (1, "paid", 14)


def test_attribution_writes_nothing_into_funnel_events() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    deliver(send, c, clicked_at=T0 + dt.timedelta(hours=1))
    fe = funnel(c, T0 + dt.timedelta(days=1))
    before = FunnelEvent.objects.filter(pk=fe.pk).values().get()
    send_report_compute(send_id=send.pk)
    assert FunnelEvent.objects.filter(pk=fe.pk).values().get() == before


def test_contact_credits_name_the_credited_delivery() -> None:
    _s, send = scenario_with_send()
    c = _contact()
    d = deliver(send, c, clicked_at=T0 + dt.timedelta(hours=1))
    funnel(c, T0 + dt.timedelta(days=1))
    credits = contact_credits(contact_id=c.pk, stage="converted", window=WEEK)
    assert [(x.delivery_id, x.kind) for x in credits] == [(d.pk, "click")]


def test_a_journey_without_its_own_goal_counts_its_goal_stage() -> None:
    from automations.models import Journey
    from reports.goals import owner_goal

    journey = Journey.objects.create(name="J", trigger={"type": "api"}, goal={"type": "event", "to_stage": "paid"})
    goal = owner_goal(owner_type="journey", owner_id=journey.pk)
    assert (goal.stage, goal.window_days, goal.custom) == ("paid", 7, False)
