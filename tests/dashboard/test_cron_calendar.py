"""automations.cron_calendar (firings by day from the expanded expression) agrees with croniter, DST included."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from automations.cron_calendar import firings_by_day, next_firing

# Each range crosses the DST changes of Europe and America (spring forward, fall back).
RANGES = [
    (dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 4, 12, tzinfo=dt.UTC)),
    (dt.datetime(2026, 10, 20, tzinfo=dt.UTC), dt.datetime(2026, 11, 12, tzinfo=dt.UTC)),
]
EXPRESSIONS = [
    "30 9 * * 1-5",
    "*/15 9-17 * * mon-fri",
    "0 0 1,15 * 0,7",
    "0 12 L * *",
    "0 8 * * 1#2",
    "0 0 * jan-mar sun",
    "0 */6 13 * 5",
    "30 2 * * *",
]


@pytest.mark.parametrize("span", RANGES)
@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_firings_by_day_match_croniter(expression: str, tz: str, span: tuple[dt.datetime, dt.datetime]) -> None:
    start, end = span
    iterator = croniter(expression, start.astimezone(ZoneInfo(tz)) - dt.timedelta(seconds=1))
    expected: dict[dt.date, list[dt.datetime]] = {}
    while (moment := iterator.get_next(dt.datetime)) < end:
        expected.setdefault(moment.date(), []).append(moment)
    found = {d.day: (d.first, d.count) for d in firings_by_day(expression, tz=tz, start=start, end=end)}
    assert found == {day: (moments[0], len(moments)) for day, moments in expected.items()}


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_next_firing_matches_croniter(expression: str, tz: str) -> None:
    for start, _ in RANGES:
        expected = croniter(expression, start.astimezone(ZoneInfo(tz))).get_next(dt.datetime)
        assert next_firing(expression, tz=tz, after=start) == expected
