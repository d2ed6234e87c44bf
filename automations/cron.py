"""Cron expressions: validation, words, next runs (croniter, cron-descriptor) and the builder both ways.

No parsing of cron semantics here: croniter decides what is valid and when it fires, celery's own crontab parser
decides what beat can run, cron-descriptor writes the words. The builder only recognises the few textual shapes
it produces itself (`30 9 * * 1-5`); anything else is "custom" and keeps its text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from celery.schedules import crontab
from cron_descriptor import ExpressionDescriptor, Options
from croniter import CroniterBadDateError, croniter

FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
NEXT_RUNS = 5
# A worker's clock may be a little behind beat's: a firing seen at 09:29:58 is still the 09:30 one. Far below the
# one-minute resolution of cron, so it never confuses two firings.
DUE_TOLERANCE = dt.timedelta(seconds=5)


class CronError(ValueError):
    """The expression is not a valid 5-field cron expression; the message names the bad part."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {name!r}.") from None


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(available_timezones())]


def split(expression: str) -> list[str]:
    parts = expression.split()
    if len(parts) != 5:
        raise CronError(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week); this one has {len(parts)}."
        )
    return parts


def validate(expression: str) -> str:
    """The expression with its whitespace normalised, or CronError naming the bad field."""
    parts = split(expression)
    normalised = " ".join(parts)
    if not croniter.is_valid(normalised):
        for index, value in enumerate(parts):
            alone = ["*"] * 5
            alone[index] = value
            if not croniter.is_valid(" ".join(alone)):
                raise CronError(f"The {FIELD_NAMES[index]} field “{value}” is not valid.")
        raise CronError(f"“{normalised}” is not a valid cron expression.")
    minute, hour, day_of_month, month, day_of_week = parts
    # Beat runs the automation with celery's crontab, which knows fewer forms than croniter (no 7 for Sunday,
    # no L / W / #): refuse what beat could not run rather than save an automation that never fires.
    for index, (name, value) in enumerate(
        (
            ("minute", minute),
            ("hour", hour),
            ("day_of_month", day_of_month),
            ("month_of_year", month),
            ("day_of_week", day_of_week),
        )
    ):
        try:
            crontab(**{name: value})
        except ValueError as exc:
            hint = " (use 0 for Sunday)" if name == "day_of_week" and "7" in value else ""
            raise CronError(
                f"The {FIELD_NAMES[index]} field “{value}” is not supported by the scheduler{hint}: {exc}"
            ) from None
    try:
        croniter(normalised, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).get_next(dt.datetime)
    except CroniterBadDateError:
        raise CronError(f"“{normalised}” never runs (no such date).") from None
    return normalised


def describe(expression: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    return str(ExpressionDescriptor(expression, options).get_description())


def next_runs(expression: str, *, tz: str, after: dt.datetime, count: int = NEXT_RUNS) -> list[dt.datetime]:
    """The next `count` firings strictly after `after`, as aware datetimes in the zone `tz`."""
    iterator = croniter(expression, after.astimezone(zone(tz)))
    try:
        return [iterator.get_next(dt.datetime) for _ in range(count)]
    except CroniterBadDateError:
        return []


def latest_due(expression: str, *, tz: str, now: dt.datetime) -> dt.datetime:
    """The firing beat is running now: the latest due time <= now (with DUE_TOLERANCE for clock skew)."""
    start = (now + DUE_TOLERANCE).astimezone(zone(tz)).replace(microsecond=0) + dt.timedelta(seconds=1)
    due: dt.datetime = croniter(expression, start).get_prev(dt.datetime)
    return due


def due_times(expression: str, *, tz: str, after: dt.datetime, until: dt.datetime, limit: int) -> list[dt.datetime]:
    """The firings in (after, until], oldest first; only the latest `limit` of them (a long outage of a
    every-minute schedule would otherwise be thousands). Walks back from `until`, so an automation that has
    missed nothing costs one step."""
    start = until.astimezone(zone(tz)).replace(microsecond=0) + dt.timedelta(seconds=1)
    iterator = croniter(expression, start)
    found: list[dt.datetime] = []
    try:
        while len(found) < limit:
            due: dt.datetime = iterator.get_prev(dt.datetime)
            if due <= after:
                break
            found.append(due)
    except CroniterBadDateError:
        pass
    return found[::-1]


def crontab_fields(expression: str) -> dict[str, str]:
    """The fields of django-celery-beat's CrontabSchedule."""
    minute, hour, day_of_month, month, day_of_week = split(expression)
    return {
        "minute": minute,
        "hour": hour,
        "day_of_month": day_of_month,
        "month_of_year": month,
        "day_of_week": day_of_week,
    }


# --- the builder ---------------------------------------------------------------------------------------------

MINUTES, HOURS, DAILY, WEEKLY, MONTHLY, CUSTOM = "minutes", "hours", "daily", "weekly", "monthly", "custom"
MODE_CHOICES = [
    (MINUTES, "Every N minutes"),
    (HOURS, "Every N hours"),
    (DAILY, "Every day at"),
    (WEEKLY, "Weekly on days at"),
    (MONTHLY, "Monthly on day N at"),
    (CUSTOM, "Custom expression"),
]
WEEKDAY_CHOICES = [
    ("1", "Mon"),
    ("2", "Tue"),
    ("3", "Wed"),
    ("4", "Thu"),
    ("5", "Fri"),
    ("6", "Sat"),
    ("0", "Sun"),
]
MONTH_CHOICES = [
    (str(i), name)
    for i, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
]

_INT = re.compile(r"^\d{1,2}$")
_STEP = re.compile(r"^\*/(\d{1,2})$")
_LIST = re.compile(r"^\d{1,2}(-\d{1,2})?(,\d{1,2}(-\d{1,2})?)*$")


@dataclass
class Schedule:
    """What the builder form shows. `months` empty means every month."""

    mode: str = DAILY
    every: int = 1  # minutes or hours
    minute: int = 0
    hour: int = 9
    weekdays: list[int] = field(default_factory=list)
    month_day: int = 1
    months: list[int] = field(default_factory=list)
    expression: str = ""


def _compress(values: list[int]) -> str:
    """1,2,3,4,5 -> 1-5; runs of three or more become ranges, the rest stay a list."""
    values = sorted(set(values))
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{values[i]}-{values[j]}")
        else:
            parts.extend(str(v) for v in values[i : j + 1])
        i = j + 1
    return ",".join(parts)


def _expand(text: str, low: int, high: int) -> list[int] | None:
    if not _LIST.match(text):
        return None
    values: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        a, b = int(first), int(last or first)
        if a > b or a < low or b > high:
            return None
        values.update(range(a, b + 1))
    return sorted(values)


def build(schedule: Schedule) -> str:
    """Form -> expression."""
    if schedule.mode == CUSTOM:
        return " ".join(schedule.expression.split())
    months = "*"
    if schedule.months and len(set(schedule.months)) < 12:
        months = _compress(schedule.months)
    if schedule.mode == MINUTES:
        minute = "*" if schedule.every == 1 else f"*/{schedule.every}"
        return f"{minute} * * {months} *"
    if schedule.mode == HOURS:
        hour = "*" if schedule.every == 1 else f"*/{schedule.every}"
        return f"{schedule.minute} {hour} * {months} *"
    at = f"{schedule.minute} {schedule.hour}"
    if schedule.mode == DAILY:
        return f"{at} * {months} *"
    if schedule.mode == WEEKLY:
        days = _compress(schedule.weekdays) if schedule.weekdays and len(set(schedule.weekdays)) < 7 else "*"
        return f"{at} * {months} {days}"
    if schedule.mode == MONTHLY:
        return f"{at} {schedule.month_day} {months} *"
    raise ValueError(f"Unknown mode {schedule.mode!r}")


def parse(expression: str) -> Schedule:
    """Expression -> form. A shape the builder cannot make is `custom`, with the text kept."""
    text = " ".join(expression.split())
    custom = Schedule(mode=CUSTOM, expression=text)
    parts = text.split(" ")
    if len(parts) != 5:
        return custom
    minute, hour, dom, month, dow = parts
    months: list[int] = []
    if month != "*":
        expanded = _expand(month, 1, 12)
        if expanded is None:
            return custom
        months = expanded
    step = _STEP.match(minute)
    if (minute == "*" or step) and (hour, dom, dow) == ("*", "*", "*"):
        every = int(step.group(1)) if step else 1
        if 1 <= every <= 59:
            return Schedule(mode=MINUTES, every=every, months=months, expression=text)
        return custom
    if not _INT.match(minute) or int(minute) > 59:
        return custom
    step = _STEP.match(hour)
    if (hour == "*" or step) and (dom, dow) == ("*", "*"):
        every = int(step.group(1)) if step else 1
        if 1 <= every <= 23:
            return Schedule(mode=HOURS, every=every, minute=int(minute), months=months, expression=text)
        return custom
    if not _INT.match(hour) or int(hour) > 23:
        return custom
    base = Schedule(minute=int(minute), hour=int(hour), months=months, expression=text)
    if dom == "*" and dow == "*":
        base.mode = DAILY
        return base
    if dom == "*":
        days = _expand(dow, 0, 6)
        if days is None:
            return custom
        base.mode, base.weekdays = WEEKLY, days
        return base
    if dow == "*" and _INT.match(dom) and 1 <= int(dom) <= 31:
        base.mode, base.month_day = MONTHLY, int(dom)
        return base
    return custom
