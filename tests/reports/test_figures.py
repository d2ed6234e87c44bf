"""The report's numbers equal a hand count of the fixture (tests/reports/conftest.py)."""

from __future__ import annotations

import pytest

from reports.compute import send_report_compute
from reports.selectors import report_figures
from tests.reports.conftest import (
    EXPECTED,
    EXPECTED_HOURS,
    EXPECTED_LINKS,
    EXPECTED_REVENUE,
    Fixture,
    scenario_with_send,
)

pytestmark = pytest.mark.django_db


def test_send_report_figures_equal_the_hand_count(hand_counted: Fixture) -> None:
    report = send_report_compute(send_id=hand_counted.send.pk)
    assert {name: getattr(report, name) for name in EXPECTED} == EXPECTED


def test_send_report_revenue_equals_the_hand_count(hand_counted: Fixture) -> None:
    report = send_report_compute(send_id=hand_counted.send.pk)
    assert {"revenue": report.revenue, "revenue_view": report.revenue_view} == EXPECTED_REVENUE


def test_revenue_of_two_sends_adds_up_from_their_stored_reports(hand_counted: Fixture) -> None:
    _scenario, empty = scenario_with_send()
    send_report_compute(send_id=hand_counted.send.pk)
    send_report_compute(send_id=empty.pk)
    assert report_figures(send_ids=[hand_counted.send.pk, empty.pk]).amounts == EXPECTED_REVENUE


def test_send_report_series_counts_events_by_hour_after_the_start(hand_counted: Fixture) -> None:
    report = send_report_compute(send_id=hand_counted.send.pk)
    assert report.hours == EXPECTED_HOURS


def test_send_report_counts_clicks_per_link(hand_counted: Fixture) -> None:
    report = send_report_compute(send_id=hand_counted.send.pk)
    assert report.links == EXPECTED_LINKS


def test_rates_are_out_of_the_emails_that_reached_an_inbox(hand_counted: Fixture) -> None:
    send_report_compute(send_id=hand_counted.send.pk)
    rates = report_figures(send_ids=[hand_counted.send.pk]).rates
    # reached = sent 5 - bounced 1 = 4
    assert rates["open_rate"] == 2 / 4
    assert rates["click_rate"] == 2 / 4
    assert rates["click_to_open"] == 1.0
    assert rates["conversion_rate"] == 1 / 4
    assert rates["bounce_rate"] == 1 / 5


def test_figures_of_two_sends_add_up(hand_counted: Fixture) -> None:
    _scenario, empty = scenario_with_send()
    send_report_compute(send_id=hand_counted.send.pk)
    send_report_compute(send_id=empty.pk)
    figures = report_figures(send_ids=[hand_counted.send.pk, empty.pk])
    assert figures.sends == 2 and figures.reported == 2
    assert figures.counts == EXPECTED
    assert figures.links == EXPECTED_LINKS


def test_recompute_is_idempotent(hand_counted: Fixture) -> None:
    first = send_report_compute(send_id=hand_counted.send.pk)
    second = send_report_compute(send_id=hand_counted.send.pk)
    assert first.pk == second.pk
    assert {n: getattr(second, n) for n in EXPECTED} == EXPECTED
