"""Issue 13 §4: the schema and the API agree on how a scenario's send_time is written."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.campaigns.clock import TODAY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def test_send_time_is_answered_in_the_shape_the_schema_declares(api: APIClient) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    declared = schema["components"]["schemas"]["Scenario"]["properties"]["send_time"]
    assert "format" not in declared  # `format: time` would demand an offset ("10:00:00Z")
    campaign = api.post(
        "/api/v1/campaigns",
        {"name": "Winter", "start_date": str(TODAY), "end_date": str(TODAY + dt.timedelta(days=10)), "timezone": "UTC"},
        format="json",
    ).json()
    response = api.post(
        "/api/v1/scenarios",
        {"campaign": campaign["id"], "subject": "Hi", "content": "Hi", "send_date": str(TODAY), "send_time": "10:00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["send_time"] == "10:00:00"
    assert re.fullmatch(declared["pattern"], response.json()["send_time"])
