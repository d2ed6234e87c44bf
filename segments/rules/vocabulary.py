"""The rules' vocabulary (attribute types, operators by type, contact fields) and the parsing of condition values.

Each parser takes the raw JSON value and the condition's path, and raises RuleError naming that path.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from segments.errors import RuleError

# --- vocabulary -------------------------------------------------------------------------------------------

ATTRIBUTE_TYPES = ("numeric", "string", "date", "timestamp", "boolean", "array")

OPERATORS: dict[str, tuple[str, ...]] = {
    "string": ("eq", "neq", "contains", "not_contains", "starts_with", "in", "not_in", "is_set", "is_not_set"),
    "numeric": ("eq", "neq", "lt", "lte", "gt", "gte", "between", "in", "not_in", "is_set", "is_not_set"),
    "date": ("eq", "before", "after", "between", "within_last_days", "more_than_days_ago", "is_set", "is_not_set"),
    "timestamp": (
        "eq",
        "before",
        "after",
        "between",
        "within_last_days",
        "more_than_days_ago",
        "is_set",
        "is_not_set",
    ),
    "boolean": ("is_true", "is_false", "is_set", "is_not_set"),
    "array": ("contains", "not_contains", "is_set", "is_not_set"),
    "choice": ("eq", "neq", "in", "not_in"),
}

OPERATOR_LABELS: dict[str, str] = {
    "eq": "=",
    "neq": "≠",
    "lt": "<",
    "lte": "≤",
    "gt": ">",
    "gte": "≥",
    "between": "between",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "not_contains": "does not contain",
    "starts_with": "starts with",
    "is_set": "is set",
    "is_not_set": "is not set",
    "before": "before",
    "after": "after",
    "within_last_days": "within the last N days",
    "more_than_days_ago": "more than N days ago",
    "is_true": "is true",
    "is_false": "is false",
}

CONTACT_FIELDS: dict[str, str] = {
    "email": "string",
    "first_name": "string",
    "last_name": "string",
    "mobile": "string",
    "lms_lead_id": "string",
    "status": "choice",
    "created_at": "timestamp",
    "updated_at": "timestamp",
    "unsubscribed_at": "timestamp",
}

NO_VALUE_OPERATORS = {"is_set", "is_not_set", "is_true", "is_false"}
NEGATIVE_OPERATORS = {"neq", "not_in", "not_contains"}


# --- value parsing ----------------------------------------------------------------------------------------


def as_list(value: Any, path: str) -> list[Any]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise RuleError(f"{path}: needs a non-empty list of values.")
    return value


def as_pair(value: Any, path: str) -> tuple[Any, Any]:
    if isinstance(value, dict):
        value = [value.get("from"), value.get("to")]
    if not isinstance(value, list | tuple) or len(value) != 2 or value[0] in (None, "") or value[1] in (None, ""):
        raise RuleError(f"{path}: 'between' needs two values [low, high].")
    return value[0], value[1]


def as_number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool):
        raise RuleError(f"{path}: {value!r} is not a number.")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RuleError(f"{path}: {value!r} is not a number.") from None
    if not number.is_finite():
        raise RuleError(f"{path}: {value!r} is not a finite number.")
    return number


def as_date(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    parsed = parse_date(str(value).strip()[:10]) if value not in (None, "") else None
    if parsed is None:
        raise RuleError(f"{path}: {value!r} is not a date (YYYY-MM-DD).")
    return parsed


def as_datetime(value: Any, path: str, *, end_of_day: bool = False) -> dt.datetime:
    text = str(value).strip() if value is not None else ""
    parsed: dt.datetime | None = None
    try:
        parsed = parse_datetime(text) if len(text) > 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        day = as_date(text, path)
        parsed = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def as_days(value: Any, path: str) -> int:
    try:
        days = int(str(value).strip())
    except (TypeError, ValueError):
        raise RuleError(f"{path}: {value!r} is not a whole number of days.") from None
    if days < 0 or days > 36500:
        raise RuleError(f"{path}: the number of days must be between 0 and 36500.")
    return days


def as_text(value: Any, path: str) -> str:
    if value is None or isinstance(value, dict | list):
        raise RuleError(f"{path}: needs a text value.")
    return str(value)
