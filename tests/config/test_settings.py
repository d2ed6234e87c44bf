from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.base import parse_daily_at


@pytest.mark.parametrize(
    ("value", "expected"), [("06:00", "06:00"), ("6", "06:00"), ("6:30", "06:30"), (" 23:59 ", "23:59")]
)
def test_scheduler_daily_at_is_read_as_a_time_of_day(value: str, expected: str) -> None:
    assert parse_daily_at(value) == expected


@pytest.mark.parametrize("value", ["", "24:00", "06:60", "6am", "06:00:00", "noon"])
def test_a_scheduler_daily_at_that_is_not_a_time_of_day_stops_the_start(value: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="SCHEDULER_DAILY_AT"):
        parse_daily_at(value)
