"""Rules segments: a JSON tree of conditions compiled to ONE SQL statement over contacts.

Schema (what `Segment.rules` holds and the dashboard builder writes)::

    group      := {"op": "and" | "or", "conditions": [node, ...], "negate": false}
    node       := group | field | attribute | event | batch

    field      := {"field": "contact.<name>", "operator": OP, "value": V}
                  names: email, first_name, last_name, mobile, lms_lead_id (string), status (choice: the email
                  status subscribed / unsubscribed / bounced / complained), created_at, updated_at,
                  unsubscribed_at (timestamp)
    attribute  := {"attribute": "<field_name>", "type": numeric | string | date | timestamp | boolean | array,
                   "operator": OP, "value": V}
    event      := {"event": {"to_stage": "enrolled", "from_stage": "", "funnel_type": "sales" | "service-delivery" | "",
                             "within_days": 30}}
                  (the contact moved to `to_stage` [from `from_stage`] [in that funnel] [in the last N days];
                  every key but to_stage is optional)
    batch      := {"batch": <batch id>}
    Any node may carry "negate": true (NOT). An empty top-level group matches every contact.

Operators by type (V is the value):

    string     eq, neq, contains, not_contains, starts_with, in, not_in (V: list), is_set, is_not_set
    numeric    eq, neq, lt, lte, gt, gte, between (V: [low, high], inclusive), in, not_in, is_set, is_not_set
    date,      eq (same day), before, after (V: "YYYY-MM-DD"), between (V: [from, to], inclusive days),
    timestamp  within_last_days, more_than_days_ago (V: whole days), is_set, is_not_set
    boolean    is_true, is_false, is_set, is_not_set
    array      contains, not_contains (V: one element), is_set, is_not_set
    choice     eq, neq, in, not_in

String `contains` / `starts_with` ignore case; `eq` does not. Negative attribute operators (neq, not_in,
not_contains) match contacts that HAVE the attribute with another value; use `is_not_set` (or "negate") for
contacts without it. Attribute values are jsonb in `contacts_contactattribute(field_name, field_value)`; a value
of the wrong JSON type never matches (and never raises): on PostgreSQL numbers and exact string matches compare
the typed columns generated from the value (`value_num > 70`, `value_text IN (...)`, indexed; see `_typed_q`),
other string operators read `v #>> '{}'`, dates `left(v #>> '{}', 10)::date`. Exact string operators only match
attributes stored as strings.

The whole tree is one statement: AND-ed conditions on other tables are `EXISTS (...)` subqueries (semi-joins);
an OR group over other tables is `id IN (a UNION b ...)` (see `_group_q`). Relative dates ("last N days") are
resolved when compiled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import (
    BooleanField,
    DateField,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    FloatField,
    Func,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from contacts.models import BatchMember, Contact, ContactAttribute, FunnelEvent
from segments.errors import RuleError

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

MAX_DEPTH = 5
MAX_CONDITIONS = 50


# --- jsonb value readers ----------------------------------------------------------------------------------


class JsonbText(Func):
    template = "(%(expressions)s #>> '{}')"
    output_field = TextField()


class JsonbDate(Func):
    template = "(CASE WHEN (%(expressions)s #>> '{}') ~ '^\\d{4}-\\d{2}-\\d{2}' THEN left(%(expressions)s #>> '{}', 10)::date END)"
    output_field = DateField()


class JsonbTimestamp(Func):
    template = "(CASE WHEN (%(expressions)s #>> '{}') ~ '^\\d{4}-\\d{2}-\\d{2}' THEN (%(expressions)s #>> '{}')::timestamptz END)"
    output_field = DateTimeField()


class ValueColumn(Func):
    """A column PostgreSQL generates from `field_value` (contacts migration 0005: value_num, value_text), read
    under the same table alias as `field_value`, so it works in the subqueries Django relabels (U0, U1 ...)."""

    def __init__(self, column: str, output_field: Any) -> None:
        super().__init__(F("field_value"), output_field=output_field)
        self.column = column

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        quoted = connection.ops.quote_name("field_value")
        assert sql.endswith(quoted), sql
        return sql[: -len(quoted)] + connection.ops.quote_name(self.column), tuple(params)


# --- SQLite (the embedded default) reads the same values with its JSON1 functions -------------------------
# Attribute values are JSON text there; json_type() names the type ('integer', 'real', 'text', 'true', 'false',
# 'array', 'object', 'null') and json_extract(v, '$') decodes the scalar. A value of the wrong type reads as NULL,
# so it never matches, as on PostgreSQL.

_SQLITE_DATE_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"


class SqliteJsonType(Func):
    template = "json_type(%(expressions)s)"
    output_field = TextField()


class SqliteJsonNumeric(Func):
    template = (
        "(CASE WHEN json_type(%(expressions)s) IN ('integer', 'real') THEN json_extract(%(expressions)s, '$') END)"
    )
    output_field = FloatField()


class SqliteJsonText(Func):
    """Like `v #>> '{}'`: a string's text, a number's digits, 'true' / 'false'; NULL for JSON null."""

    template = (
        "(CASE json_type(%(expressions)s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        "ELSE CAST(json_extract(%(expressions)s, '$') AS TEXT) END)"
    )
    output_field = TextField()


class SqliteJsonString(Func):
    """Only JSON strings (exact string operators compare typed values on PostgreSQL too)."""

    template = "(CASE WHEN json_type(%(expressions)s) = 'text' THEN json_extract(%(expressions)s, '$') END)"
    output_field = TextField()


class SqliteJsonDate(Func):
    """'YYYY-MM-DD' (Django's SQLite date format) from a string starting with a date."""

    template = (
        "(CASE WHEN json_type(%(expressions)s) = 'text' AND json_extract(%(expressions)s, '$') GLOB "
        + _SQLITE_DATE_GLOB
        + " THEN substr(json_extract(%(expressions)s, '$'), 1, 10) END)"
    )
    output_field = DateField()


class SqliteJsonTimestamp(Func):
    """'YYYY-MM-DD HH:MM:SS.SSS' in UTC (Django's SQLite datetime format) from an ISO 8601 string.

    strftime() applies a '+HH:MM' / 'Z' suffix; a date alone reads as its midnight UTC. The '%' are doubled twice:
    once for Func's template, once for Django's SQLite cursor (which turns '%%' back into '%').
    """

    template = (
        "(CASE WHEN json_type(%(expressions)s) = 'text' AND json_extract(%(expressions)s, '$') GLOB "
        + _SQLITE_DATE_GLOB
        + " THEN strftime('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', json_extract(%(expressions)s, '$')) END)"
    )
    output_field = DateTimeField()


class SqliteJsonArrayHas(Func):
    """The JSON array (first expression) has an element equal to the second (typed: 3 is not "3")."""

    arity = 2
    output_field = BooleanField()

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        array_sql, array_params = compiler.compile(self.source_expressions[0])
        element_sql, element_params = compiler.compile(self.source_expressions[1])
        sql = (
            f"(json_type({array_sql}) = 'array' AND EXISTS (SELECT 1 FROM json_each({array_sql}) AS herald_e "
            f"WHERE herald_e.value = {element_sql}))"
        )
        return sql, (*array_params, *array_params, *element_params)


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


def _as_list(value: Any, path: str) -> list[Any]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not value:
        raise RuleError(f"{path}: needs a non-empty list of values.")
    return value


def _as_pair(value: Any, path: str) -> tuple[Any, Any]:
    if isinstance(value, dict):
        value = [value.get("from"), value.get("to")]
    if not isinstance(value, list | tuple) or len(value) != 2 or value[0] in (None, "") or value[1] in (None, ""):
        raise RuleError(f"{path}: 'between' needs two values [low, high].")
    return value[0], value[1]


def _as_number(value: Any, path: str) -> Decimal:
    if isinstance(value, bool):
        raise RuleError(f"{path}: {value!r} is not a number.")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RuleError(f"{path}: {value!r} is not a number.") from None
    if not number.is_finite():
        raise RuleError(f"{path}: {value!r} is not a finite number.")
    return number


def _as_date(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    parsed = parse_date(str(value).strip()[:10]) if value not in (None, "") else None
    if parsed is None:
        raise RuleError(f"{path}: {value!r} is not a date (YYYY-MM-DD).")
    return parsed


def _as_datetime(value: Any, path: str, *, end_of_day: bool = False) -> dt.datetime:
    text = str(value).strip() if value is not None else ""
    parsed: dt.datetime | None = None
    try:
        parsed = parse_datetime(text) if len(text) > 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        day = _as_date(text, path)
        parsed = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _as_days(value: Any, path: str) -> int:
    try:
        days = int(str(value).strip())
    except (TypeError, ValueError):
        raise RuleError(f"{path}: {value!r} is not a whole number of days.") from None
    if days < 0 or days > 36500:
        raise RuleError(f"{path}: the number of days must be between 0 and 36500.")
    return days


def _as_text(value: Any, path: str) -> str:
    if value is None or isinstance(value, dict | list):
        raise RuleError(f"{path}: needs a text value.")
    return str(value)


# --- predicates on one value expression --------------------------------------------------------------------


def _scalar_q(name: str, kind: str, operator: str, value: Any, path: str) -> Q:
    """A predicate on `name` (a field of the queried model or an alias), of type `kind`."""
    if operator in ("is_set", "is_not_set"):
        raise AssertionError("handled by the caller")
    if kind == "string":
        if operator == "eq":
            return Q(**{name: _as_text(value, path)})
        if operator == "neq":
            return ~Q(**{name: _as_text(value, path)})
        if operator == "contains":
            return Q(**{f"{name}__icontains": _as_text(value, path)})
        if operator == "not_contains":
            return ~Q(**{f"{name}__icontains": _as_text(value, path)})
        if operator == "starts_with":
            return Q(**{f"{name}__istartswith": _as_text(value, path)})
        if operator == "in":
            return Q(**{f"{name}__in": [str(v) for v in _as_list(value, path)]})
        if operator == "not_in":
            return ~Q(**{f"{name}__in": [str(v) for v in _as_list(value, path)]})
    if kind == "choice":
        allowed = set(Contact.Status.values)
        values = _as_list(value, path) if operator in ("in", "not_in") else [_as_text(value, path)]
        bad = [v for v in values if v not in allowed]
        if bad:
            raise RuleError(f"{path}: {bad[0]!r} is not a status ({', '.join(sorted(allowed))}).")
        q = Q(**{f"{name}__in": values}) if operator in ("in", "not_in") else Q(**{name: values[0]})
        return ~q if operator in ("neq", "not_in") else q
    if kind == "numeric":
        if operator == "between":
            low, high = _as_pair(value, path)
            return Q(**{f"{name}__range": (_as_number(low, path), _as_number(high, path))})
        if operator in ("in", "not_in"):
            q = Q(**{f"{name}__in": [_as_number(v, path) for v in _as_list(value, path)]})
            return ~q if operator == "not_in" else q
        lookup = {"eq": "exact", "neq": "exact", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}[operator]
        q = Q(**{f"{name}__{lookup}": _as_number(value, path)})
        return ~q if operator == "neq" else q
    if kind in ("date", "timestamp"):
        return _date_q(name, kind, operator, value, path)
    raise RuleError(f"{path}: operator {operator!r} does not fit type {kind!r}.")


def _date_q(name: str, kind: str, operator: str, value: Any, path: str) -> Q:
    now = timezone.now()
    if kind == "date":
        today = timezone.localdate()
        if operator == "eq":
            return Q(**{name: _as_date(value, path)})
        if operator == "before":
            return Q(**{f"{name}__lt": _as_date(value, path)})
        if operator == "after":
            return Q(**{f"{name}__gt": _as_date(value, path)})
        if operator == "between":
            low, high = _as_pair(value, path)
            return Q(**{f"{name}__range": (_as_date(low, path), _as_date(high, path))})
        if operator == "within_last_days":
            days = _as_days(value, path)
            return Q(**{f"{name}__gte": today - dt.timedelta(days=days), f"{name}__lte": today})
        if operator == "more_than_days_ago":
            return Q(**{f"{name}__lt": today - dt.timedelta(days=_as_days(value, path))})
    else:
        if operator == "eq":
            return Q(
                **{
                    f"{name}__gte": _as_datetime(value, path),
                    f"{name}__lte": _as_datetime(value, path, end_of_day=True),
                }
            )
        if operator == "before":
            return Q(**{f"{name}__lt": _as_datetime(value, path)})
        if operator == "after":
            return Q(**{f"{name}__gt": _as_datetime(value, path, end_of_day=True)})
        if operator == "between":
            low, high = _as_pair(value, path)
            return Q(**{f"{name}__range": (_as_datetime(low, path), _as_datetime(high, path, end_of_day=True))})
        if operator == "within_last_days":
            days = _as_days(value, path)
            return Q(**{f"{name}__gte": now - dt.timedelta(days=days), f"{name}__lte": now})
        if operator == "more_than_days_ago":
            return Q(**{f"{name}__lt": now - dt.timedelta(days=_as_days(value, path))})
    raise RuleError(f"{path}: operator {operator!r} does not fit type {kind!r}.")


# --- conditions -------------------------------------------------------------------------------------------


def _check_operator(kind: str, operator: Any, path: str) -> str:
    if not isinstance(operator, str) or operator not in OPERATORS[kind]:
        allowed = ", ".join(OPERATORS[kind])
        raise RuleError(f"{path}: operator {operator!r} does not fit type {kind!r} (use one of: {allowed}).")
    return operator


def _field_q(node: dict[str, Any], path: str) -> Q:
    raw = node.get("field")
    name = raw.removeprefix("contact.") if isinstance(raw, str) else ""
    if name not in CONTACT_FIELDS:
        raise RuleError(f"{path}: unknown contact field {raw!r} (known: {', '.join(CONTACT_FIELDS)}).")
    kind = CONTACT_FIELDS[name]
    operator = _check_operator(kind, node.get("operator"), path)
    value = node.get("value")
    if operator in ("is_set", "is_not_set"):
        q = Q(**{f"{name}__isnull": False})
        if kind == "string":
            q &= ~Q(**{name: ""})
        return q if operator == "is_set" else ~q
    if name == "email" and operator in ("eq", "neq", "in", "not_in"):
        # Emails are stored lower-cased; compare the same way so "Ann@X.org" finds ann@x.org.
        value = [str(v).lower() for v in _as_list(value, path)] if operator in ("in", "not_in") else str(value).lower()
    return _scalar_q(name, kind, operator, value, path)


_READERS: dict[str, Callable[[Any], Func]] = {
    "string": JsonbText,
    "date": JsonbDate,
    "timestamp": JsonbTimestamp,
}


# A compiled condition: the Q over Contact, and (for a positive condition on another table) the uncorrelated
# query of the contact ids it selects, used to turn OR groups into one UNION instead of per-row subplans.
Compiled = tuple[Q, QuerySet | None]


def _rows_condition(rows: QuerySet) -> Compiled:
    ids = rows.order_by().values("contact_id")
    return Q(Exists(rows.filter(contact_id=OuterRef("pk")))), ids


# Every attribute row is in exactly one of three partial indexes keyed by field_name (contacts migrations 0005 and
# 0006): numbers (value_num), short strings of string attributes (value_text), and the rest. A condition names the
# bucket(s) its values can be in, so the planner reads those indexes (several: a BitmapOr) for the attribute's name.
NUMBER_BUCKET = Q(vnum__isnull=False)
STRING_BUCKET = Q(vtext__isnull=False)
OTHER_BUCKET = Q(vnum__isnull=True, vtext__isnull=True)
STRING_BUCKETS = STRING_BUCKET | OTHER_BUCKET
ANY_BUCKET = NUMBER_BUCKET | STRING_BUCKET | OTHER_BUCKET


def _attribute_q(node: dict[str, Any], path: str, vendor: str) -> Compiled:
    name = node.get("attribute")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{path}: an attribute condition needs the attribute's name.")
    kind = node.get("type") or "string"
    if kind not in ATTRIBUTE_TYPES:
        raise RuleError(f"{path}: unknown attribute type {kind!r} (use one of: {', '.join(ATTRIBUTE_TYPES)}).")
    operator = _check_operator(kind, node.get("operator"), path)
    value = node.get("value")
    if vendor == "sqlite":
        matched = _sqlite_attribute_rows(name.strip(), kind, operator, value, path)
        if operator == "is_not_set":
            return ~Q(Exists(matched.filter(contact_id=OuterRef("pk")))), None
        return _rows_condition(matched)
    rows = ContactAttribute.objects.filter(field_name=name.strip()).alias(
        jtype=Func(F("field_value"), function="jsonb_typeof", output_field=TextField()),
        vnum=ValueColumn("value_num", DecimalField()),
        vtext=ValueColumn("value_text", TextField()),
    )
    if operator in ("is_set", "is_not_set"):
        present = rows.filter(ANY_BUCKET).exclude(field_value__isnull=True).exclude(field_value=None)
        if operator == "is_set":
            return _rows_condition(present)
        return ~Q(Exists(present.filter(contact_id=OuterRef("pk")))), None
    if kind == "boolean":
        return _rows_condition(rows.filter(OTHER_BUCKET, field_value=(operator == "is_true")))
    if kind == "array":
        element = value if isinstance(value, int | float) and not isinstance(value, bool) else _as_text(value, path)
        if operator == "contains":  # only an array contains an array
            return _rows_condition(rows.filter(OTHER_BUCKET, field_value__contains=[element]))
        return _rows_condition(rows.filter(ANY_BUCKET).exclude(field_value__contains=[element]))
    if kind == "numeric" or (kind == "string" and operator in ("eq", "neq", "in", "not_in")):
        return _rows_condition(rows.filter(_typed_q(kind, operator, value, path)))
    predicate = _scalar_q("v", kind, operator, value, path)
    # The readers decode a value of any JSON type (a number reads as text too), so every bucket may match.
    return _rows_condition(rows.filter(ANY_BUCKET).alias(v=_READERS[kind](F("field_value"))).filter(predicate))


_SQLITE_READERS: dict[str, Callable[[Any], Func]] = {
    "numeric": SqliteJsonNumeric,
    "string": SqliteJsonText,
    "date": SqliteJsonDate,
    "timestamp": SqliteJsonTimestamp,
}


def _sqlite_attribute_rows(name: str, kind: str, operator: str, value: Any, path: str) -> QuerySet:
    """The attribute rows matching the condition on SQLite: same meaning as the PostgreSQL SQL, JSON1 functions.

    `v` is the decoded value (NULL when the JSON type does not fit), so wrong types never match, also under
    neq / not_in / not_contains (which still need the attribute, as on PostgreSQL).
    """
    rows = ContactAttribute.objects.filter(field_name=name).alias(jtype=SqliteJsonType(F("field_value")))
    if operator in ("is_set", "is_not_set"):
        # Present (the caller negates for is_not_set): neither SQL NULL (json_type(NULL) is NULL) nor JSON null.
        return rows.filter(jtype__isnull=False).exclude(jtype="null")
    if kind == "boolean":
        return rows.filter(jtype="true" if operator == "is_true" else "false")
    if kind == "array":
        element = value if isinstance(value, int | float) and not isinstance(value, bool) else _as_text(value, path)
        has = Q(SqliteJsonArrayHas(F("field_value"), Value(element)))
        return rows.filter(has if operator == "contains" else ~has)
    if kind == "string" and operator in ("eq", "neq", "in", "not_in"):
        rows = rows.filter(field_type=ContactAttribute.FieldType.STRING)  # as on PostgreSQL (_typed_q)
        reader: Func = SqliteJsonString(F("field_value"))
    else:
        reader = _SQLITE_READERS[kind](F("field_value"))
    return rows.alias(v=reader).filter(Q(v__isnull=False) & _scalar_q("v", kind, operator, value, path))


# value_text (contacts migration 0005) holds the strings of string attributes under this many bytes.
STRING_INDEX_BYTES = 1000


def _jsonb_literal(value: Any) -> Cast:
    return Cast(Value(value if isinstance(value, str) and not isinstance(value, bool) else str(value)), JSONField())


def _typed_q(kind: str, operator: str, value: Any, path: str) -> Q:
    """Numbers and exact strings compared on the typed columns PostgreSQL generates from `field_value`.

    `value_num` is the number of every JSON number (NULL otherwise), `value_text` the text of every JSON string of a
    string attribute under 1000 bytes: both are indexed (field_name, value, contact_id), so positive conditions
    are index-only range scans. Negative string conditions and long strings compare `field_value` itself (a long
    stored string has no value_text, yet differs from every short one).
    """
    if kind == "string":
        values = [str(v) for v in (_as_list(value, path) if operator in ("in", "not_in") else [_as_text(value, path)])]
        positive = operator in ("eq", "in")
        if positive and all(len(v.encode()) < STRING_INDEX_BYTES for v in values):
            return Q(vtext__in=values)
        # A string condition reads string attributes (dates and timestamps are JSON strings too), short or long.
        typed = STRING_BUCKETS & Q(field_type=ContactAttribute.FieldType.STRING, jtype="string")
        q = Q(field_value__in=[_jsonb_literal(json.dumps(v)) for v in values])
        return typed & (q if positive else ~q)
    # A comparison is false on NULL, so positive conditions need no `value_num IS NOT NULL` (the partial index's
    # predicate is implied): spelled out, the planner counts it as a second, independent filter and guesses a
    # third of the rows, which picked the slower join order on the benchmark's segment.
    if operator == "between":
        low, high = _as_pair(value, path)
        return Q(vnum__gte=_as_number(low, path), vnum__lte=_as_number(high, path))
    present = Q(vnum__isnull=False)  # negations: Django's NOT (...) would let NULL through
    if operator in ("in", "not_in"):
        q = Q(vnum__in=[_as_number(v, path) for v in _as_list(value, path)])
        return present & ~q if operator == "not_in" else q
    lookup = {"eq": "exact", "neq": "exact", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}[operator]
    q = Q(**{f"vnum__{lookup}": _as_number(value, path)})
    return present & ~q if operator == "neq" else q


def _event_q(node: dict[str, Any], path: str) -> Compiled:
    spec = node.get("event")
    if not isinstance(spec, dict):
        raise RuleError(f"{path}: an event condition is an object like {{'to_stage': 'enrolled'}}.")
    to_stage = str(spec.get("to_stage") or "").strip()
    if not to_stage:
        raise RuleError(f"{path}: an event condition needs the stage the contact moved to (to_stage).")
    rows = FunnelEvent.objects.filter(to_stage=to_stage)
    from_stage = str(spec.get("from_stage") or "").strip()
    if from_stage:
        rows = rows.filter(from_stage=from_stage)
    funnel_type = str(spec.get("funnel_type") or "").strip()
    if funnel_type:
        if funnel_type not in FunnelEvent.FunnelType.values:
            raise RuleError(
                f"{path}: unknown funnel type {funnel_type!r} (use {', '.join(FunnelEvent.FunnelType.values)})."
            )
        rows = rows.filter(funnel_type=funnel_type)
    if spec.get("within_days") not in (None, ""):
        days = _as_days(spec.get("within_days"), path)
        rows = rows.filter(created_at__gte=timezone.now() - dt.timedelta(days=days))
    return _rows_condition(rows)


def _batch_q(node: dict[str, Any], path: str) -> Compiled:
    raw = node.get("batch")
    if isinstance(raw, dict):
        raw = raw.get("id")
    try:
        batch_id = int(str(raw))
    except (TypeError, ValueError):
        raise RuleError(f"{path}: a batch condition needs the batch id.") from None
    return _rows_condition(BatchMember.objects.filter(batch_id=batch_id))


def _node_q(node: Any, path: str, depth: int, counter: list[int], vendor: str) -> Compiled:
    if not isinstance(node, dict):
        raise RuleError(f"{path}: each condition is a JSON object.")
    if depth > MAX_DEPTH:
        raise RuleError(f"{path}: groups nest at most {MAX_DEPTH} deep.")
    rows: QuerySet | None = None
    if "conditions" in node or "op" in node:
        q = _group_q(node, path, depth, counter, vendor)
    else:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise RuleError(f"A segment has at most {MAX_CONDITIONS} conditions.")
        if "field" in node:
            q = _field_q(node, path)
        elif "attribute" in node:
            q, rows = _attribute_q(node, path, vendor)
        elif "event" in node:
            q, rows = _event_q(node, path)
        elif "batch" in node:
            q, rows = _batch_q(node, path)
        else:
            raise RuleError(f"{path}: a condition needs one of 'field', 'attribute', 'event' or 'batch'.")
    if node.get("negate"):
        return ~q, None
    return q, rows


def _group_q(node: dict[str, Any], path: str, depth: int, counter: list[int], vendor: str) -> Q:
    """AND: conditions side by side (EXISTS become semi-joins). OR over other tables: `id IN (a UNION b ...)`.

    PostgreSQL cannot turn `EXISTS (...) OR EXISTS (...)` into joins; it runs both subqueries for every contact.
    A UNION of the id sets is planned as one hash semi-join, whatever the sizes.
    """
    op = node.get("op", "and")
    if op not in ("and", "or"):
        raise RuleError(f"{path or 'rules'}: 'op' must be 'and' or 'or', not {op!r}.")
    children = node.get("conditions", [])
    if not isinstance(children, list):
        raise RuleError(f"{path or 'rules'}: 'conditions' must be a list.")
    if not children:
        if depth == 0:
            return Q()
        raise RuleError(f"{path}: an empty group; add a condition or remove the group.")
    prefix = f"{path}." if path else ""
    compiled = [
        _node_q(child, f"{prefix}conditions[{index}]", depth + 1, counter, vendor)
        for index, child in enumerate(children)
    ]
    if op == "and" or len(compiled) == 1 or all(rows is None for _, rows in compiled):
        combined = compiled[0][0]
        for q, _ in compiled[1:]:
            combined = combined & q if op == "and" else combined | q
        return combined
    id_sets = [rows if rows is not None else Contact.objects.filter(q).order_by().values("id") for q, rows in compiled]
    # UNION, not UNION ALL: the planner estimates the distinct count of a UNION from its inputs, but guesses 200
    # rows for an IN over UNION ALL and then picks a nested loop over what are often 100k+ ids.
    return Q(pk__in=id_sets[0].union(*id_sets[1:]))


def compile_rules(rules: Any, *, vendor: str | None = None) -> Q:
    """The rules as one Q over Contact. Raises RuleError with a message naming the faulty condition.

    `vendor` is the database the Q will run on ("postgresql" or "sqlite"; default: the default connection's):
    attribute conditions compile to jsonb SQL on PostgreSQL and to JSON1 functions on SQLite.
    """
    if rules in (None, "", {}):
        return Q()
    if not isinstance(rules, dict):
        raise RuleError("The rules must be a JSON object like {'op': 'and', 'conditions': [...]}.")
    q = _group_q(rules, "", 0, [0], vendor or connection.vendor)
    return ~q if rules.get("negate") and q else q


def rules_contact_ids(rules: Any) -> QuerySet:
    return Contact.objects.filter(compile_rules(rules)).order_by().values_list("id", flat=True)


def describe_rules(rules: Any) -> list[str]:
    """Human-readable lines for the detail page (one per condition, indented by group depth)."""
    lines: list[str] = []

    def walk(node: Any, depth: int) -> None:
        pad = "  " * depth
        neg = "NOT " if isinstance(node, dict) and node.get("negate") else ""
        if not isinstance(node, dict):
            return
        if "conditions" in node or "op" in node:
            lines.append(f"{pad}{neg}{str(node.get('op', 'and')).upper()} of:")
            for child in node.get("conditions") or []:
                walk(child, depth + 1)
            return
        op = OPERATOR_LABELS.get(str(node.get("operator")), str(node.get("operator")))
        value = "" if node.get("operator") in NO_VALUE_OPERATORS else f" {node.get('value')!r}"
        if "field" in node:
            lines.append(f"{pad}{neg}{node['field']} {op}{value}")
        elif "attribute" in node:
            lines.append(f"{pad}{neg}attribute {node['attribute']} ({node.get('type', 'string')}) {op}{value}")
        elif "event" in node and isinstance(node["event"], dict):
            ev = node["event"]
            text = f"moved to stage {ev.get('to_stage')!r}"
            if ev.get("from_stage"):
                text += f" from {ev['from_stage']!r}"
            if ev.get("funnel_type"):
                text += f" in the {ev['funnel_type']} funnel"
            if ev.get("within_days") not in (None, ""):
                text += f" within the last {ev['within_days']} days"
            lines.append(f"{pad}{neg}{text}")
        elif "batch" in node:
            lines.append(f"{pad}{neg}member of batch {node['batch']}")

    walk(rules or {}, 0)
    return lines
