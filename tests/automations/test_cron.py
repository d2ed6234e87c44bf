"""The cron builder both ways, checked against croniter's next runs and cron-descriptor's words."""

from __future__ import annotations

import datetime as dt

import pytest
from cron_descriptor import get_description
from croniter import croniter
from django.http import QueryDict

from automations import cron
from automations.forms import builder_data
from automations.selectors import schedule_preview

START = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)

# (expression, the builder's mode): each is typed, pre-fills the builder, and the builder gives it back.
REPRESENTABLE = [
    ("* * * * *", cron.MINUTES),
    ("*/5 * * * *", cron.MINUTES),
    ("*/15 * * * *", cron.MINUTES),
    ("*/30 * * 1,7 *", cron.MINUTES),
    ("0 * * * *", cron.HOURS),
    ("15 * * * *", cron.HOURS),
    ("0 */2 * * *", cron.HOURS),
    ("45 */6 * * *", cron.HOURS),
    ("0 9 * * *", cron.DAILY),
    ("30 9 * * *", cron.DAILY),
    ("0 0 * * *", cron.DAILY),
    ("59 23 * * *", cron.DAILY),
    ("0 8 * 12 *", cron.DAILY),
    ("30 9 * * 1-5", cron.WEEKLY),
    ("0 10 * * 0,6", cron.WEEKLY),
    ("0 7 * * 1", cron.WEEKLY),
    ("15 18 * * 1,3,5", cron.WEEKLY),
    ("0 9 * * 0-2", cron.WEEKLY),
    ("0 12 * 6-8 2,4", cron.WEEKLY),
    ("0 9 1 * *", cron.MONTHLY),
    ("30 6 15 * *", cron.MONTHLY),
    ("0 0 31 * *", cron.MONTHLY),
    ("0 9 1 1,4,7,10 *", cron.MONTHLY),
    ("0 9 28 2 *", cron.MONTHLY),
    ("5 4 10 3-5 *", cron.MONTHLY),
]
CUSTOM = [
    "0 9 1 * 1",  # day of month AND day of week
    "0 9-17 * * *",
    "*/10 9-17 * * 1-5",
    "0,30 * * * *",
    "0 9 */2 * *",
    "0 9 * * mon-fri",
    "0 9 * jan *",
    "0 22 * * 1-5/2",
]


def _runs(expression: str) -> list[dt.datetime]:
    it = croniter(expression, START)
    return [it.get_next(dt.datetime) for _ in range(5)]


def _through_the_form(expression: str) -> str:
    """Type the expression, then read back what the builder (as the browser posts it) makes of it."""
    data, _ = builder_data(_post({"cron": expression}), source="expression")
    if data["mode"] == cron.CUSTOM:
        return str(data["cron"])
    rebuilt, _ = builder_data(data, source="builder")
    return str(rebuilt["cron"])


def _post(values: dict[str, object]) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in values.items():
        if isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        else:
            data[key] = str(value)
    return data


def test_there_are_at_least_25_builder_expressions() -> None:
    assert len(REPRESENTABLE) >= 25


@pytest.mark.parametrize(("expression", "mode"), REPRESENTABLE)
def test_an_expression_prefills_the_builder_which_gives_it_back(expression: str, mode: str) -> None:
    assert cron.parse(expression).mode == mode
    assert _through_the_form(expression) == expression


@pytest.mark.parametrize(("expression", "mode"), REPRESENTABLE)
def test_the_builders_expression_has_the_librarys_runs_and_words(expression: str, mode: str) -> None:
    built = _through_the_form(expression)

    assert _runs(built) == _runs(expression)
    assert get_description(built) == get_description(expression)
    preview = schedule_preview(expression=built, tz="UTC", now=START)
    assert preview.next_runs == _runs(expression)


@pytest.mark.parametrize("expression", CUSTOM)
def test_an_expression_the_builder_cannot_show_is_custom_and_keeps_its_text(expression: str) -> None:
    assert cron.parse(expression).mode == cron.CUSTOM
    assert _through_the_form(expression) == expression
    assert schedule_preview(expression=expression, tz="UTC", now=START).ok


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"mode": "weekly", "at_time": "09:30", "weekdays": [1, 2, 3, 4, 5]}, "30 9 * * 1-5"),
        ({"mode": "minutes", "every_minutes": 5}, "*/5 * * * *"),
        ({"mode": "hours", "every_hours": 3, "at_minute": 15}, "15 */3 * * *"),
        ({"mode": "daily", "at_time": "18:05"}, "5 18 * * *"),
        ({"mode": "monthly", "at_time": "07:00", "month_day": 15, "months": [1, 2, 3, 12]}, "0 7 15 1-3,12 *"),
        ({"mode": "weekly", "at_time": "10:00", "weekdays": [0, 6]}, "0 10 * * 0,6"),
    ],
)
def test_the_builder_fills_the_expression(fields: dict[str, object], expected: str) -> None:
    data, expression = builder_data(_post(fields), source="builder")

    assert expression == expected == data["cron"]
    assert cron.validate(expression) == expected


def test_every_weekday_at_0930_reads_in_words() -> None:
    assert cron.describe("30 9 * * 1-5") == "At 09:30, Monday through Friday"


def test_next_runs_are_in_the_automations_zone() -> None:
    runs = cron.next_runs("30 9 * * *", tz="America/New_York", after=START)

    assert runs[0] == dt.datetime(2026, 11, 23, 9, 30, tzinfo=cron.zone("America/New_York"))
    assert runs[0].utcoffset() == dt.timedelta(hours=-5)


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("61 * * * *", "minute field “61”"),
        ("0 24 * * *", "hour field “24”"),
        ("0 9 32 * *", "day of month field “32”"),
        ("0 9 * 13 *", "month field “13”"),
        ("0 9 * * 7", "day of week field “7”"),
        ("0 9 * *", "5 fields"),
        ("0 9 31 2 *", "never runs"),
    ],
)
def test_an_invalid_expression_gets_an_error_naming_the_bad_part(expression: str, names: str) -> None:
    preview = schedule_preview(expression=expression, tz="UTC", now=START)

    assert not preview.ok
    assert names in preview.error


def test_the_firing_seen_a_little_early_by_a_worker_is_still_that_firing() -> None:
    due = cron.latest_due("30 9 * * *", tz="UTC", now=START - dt.timedelta(seconds=2))

    assert due == START
