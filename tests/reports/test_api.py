"""GET /api/v1/reports/...: the same figures as the pages, as JSON."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.reports.conftest import EXPECTED, LINK1, Fixture

pytestmark = pytest.mark.django_db


def test_scenario_report_api_returns_the_hand_counted_figures(hand_counted: Fixture, viewer_api: APIClient) -> None:
    response = viewer_api.get(f"/api/v1/reports/scenarios/{hand_counted.scenario.pk}")
    assert response.status_code == 200
    data = response.json()
    assert data["figures"] == EXPECTED
    assert data["rates"]["click_rate"] == 0.5
    assert data["links"][0] == {"url": LINK1, "human_clicks": 2, "unique_human_clicks": 1, "machine_clicks": 0}
    assert data["hours"][1] == {"hour": 1, "human_opens": 2, "machine_opens": 0, "human_clicks": 1, "machine_clicks": 0}
    assert data["goal"] == {"stage": "converted", "window_days": 7, "custom": False}


def test_report_api_returns_the_hand_counted_revenue(hand_counted: Fixture, viewer_api: APIClient) -> None:
    data = viewer_api.get(f"/api/v1/reports/scenarios/{hand_counted.scenario.pk}").json()
    assert data["revenue"] == {"revenue": "120.50", "revenue_view": "30.00", "currency": "USD"}


def test_send_and_campaign_report_api_add_up_the_same_send(hand_counted: Fixture, viewer_api: APIClient) -> None:
    for url in (
        f"/api/v1/reports/sends/{hand_counted.send.pk}/",
        f"/api/v1/reports/campaigns/{hand_counted.scenario.campaign_id}",
    ):
        assert viewer_api.get(url).json()["figures"] == EXPECTED


def test_report_api_of_an_unknown_scenario_is_404(viewer_api: APIClient) -> None:
    assert viewer_api.get("/api/v1/reports/scenarios/999999").status_code == 404


def test_report_api_needs_a_token(hand_counted: Fixture) -> None:
    response = APIClient().get(f"/api/v1/reports/scenarios/{hand_counted.scenario.pk}")
    assert response.status_code in (401, 403)
