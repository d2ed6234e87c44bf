"""The rules tree compiled to one `Q` over Contact (the schema is in the package's docstring)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import DecimalField, Exists, F, Func, JSONField, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from contacts.models import BatchMember, Contact, ContactAttribute, FunnelEvent
from contacts.selectors import is_sensitive_attribute
from segments.errors import RuleError
from segments.rules.dialect import (
    JsonbDate,
    JsonbText,
    JsonbTimestamp,
    SqliteJsonArrayHas,
    SqliteJsonDate,
    SqliteJsonNumeric,
    SqliteJsonString,
    SqliteJsonText,
    SqliteJsonTimestamp,
    SqliteJsonType,
    ValueColumn,
)
from segments.rules.extensions import condition_type_of, condition_types
from segments.rules.vocabulary import (
    ATTRIBUTE_TYPES,
    CONTACT_FIELDS,
    OPERATORS,
    as_date,
    as_datetime,
    as_days,
    as_list,
    as_number,
    as_pair,
    as_text,
)

MAX_DEPTH = 5
MAX_CONDITIONS = 50


# --- predicates on one value expression --------------------------------------------------------------------


def _scalar_q(name: str, kind: str, operator: str, value: Any, path: str) -> Q:
    """A predicate on `name` (a field of the queried model or an alias), of type `kind`."""
    if operator in ("is_set", "is_not_set"):
        raise AssertionError("handled by the caller")
    if kind == "string":
        if operator == "eq":
            return Q(**{name: as_text(value, path)})
        if operator == "neq":
            return ~Q(**{name: as_text(value, path)})
        if operator == "contains":
            return Q(**{f"{name}__icontains": as_text(value, path)})
        if operator == "not_contains":
            return ~Q(**{f"{name}__icontains": as_text(value, path)})
        if operator == "starts_with":
            return Q(**{f"{name}__istartswith": as_text(value, path)})
        if operator == "in":
            return Q(**{f"{name}__in": [str(v) for v in as_list(value, path)]})
        if operator == "not_in":
            return ~Q(**{f"{name}__in": [str(v) for v in as_list(value, path)]})
    if kind == "choice":
        allowed = set(Contact.Status.values)
        values = as_list(value, path) if operator in ("in", "not_in") else [as_text(value, path)]
        bad = [v for v in values if v not in allowed]
        if bad:
            raise RuleError(f"{path}: {bad[0]!r} is not a status ({', '.join(sorted(allowed))}).")
        q = Q(**{f"{name}__in": values}) if operator in ("in", "not_in") else Q(**{name: values[0]})
        return ~q if operator in ("neq", "not_in") else q
    if kind == "numeric":
        if operator == "between":
            low, high = as_pair(value, path)
            return Q(**{f"{name}__range": (as_number(low, path), as_number(high, path))})
        if operator in ("in", "not_in"):
            q = Q(**{f"{name}__in": [as_number(v, path) for v in as_list(value, path)]})
            return ~q if operator == "not_in" else q
        lookup = {"eq": "exact", "neq": "exact", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}[operator]
        q = Q(**{f"{name}__{lookup}": as_number(value, path)})
        return ~q if operator == "neq" else q
    if kind in ("date", "timestamp"):
        return _date_q(name, kind, operator, value, path)
    raise RuleError(f"{path}: operator {operator!r} does not fit type {kind!r}.")


def _date_q(name: str, kind: str, operator: str, value: Any, path: str) -> Q:
    now = timezone.now()
    if kind == "date":
        today = timezone.localdate()
        if operator == "eq":
            return Q(**{name: as_date(value, path)})
        if operator == "before":
            return Q(**{f"{name}__lt": as_date(value, path)})
        if operator == "after":
            return Q(**{f"{name}__gt": as_date(value, path)})
        if operator == "between":
            low, high = as_pair(value, path)
            return Q(**{f"{name}__range": (as_date(low, path), as_date(high, path))})
        if operator == "within_last_days":
            days = as_days(value, path)
            return Q(**{f"{name}__gte": today - dt.timedelta(days=days), f"{name}__lte": today})
        if operator == "more_than_days_ago":
            return Q(**{f"{name}__lt": today - dt.timedelta(days=as_days(value, path))})
    else:
        if operator == "eq":
            return Q(
                **{
                    f"{name}__gte": as_datetime(value, path),
                    f"{name}__lte": as_datetime(value, path, end_of_day=True),
                }
            )
        if operator == "before":
            return Q(**{f"{name}__lt": as_datetime(value, path)})
        if operator == "after":
            return Q(**{f"{name}__gt": as_datetime(value, path, end_of_day=True)})
        if operator == "between":
            low, high = as_pair(value, path)
            return Q(**{f"{name}__range": (as_datetime(low, path), as_datetime(high, path, end_of_day=True))})
        if operator == "within_last_days":
            days = as_days(value, path)
            return Q(**{f"{name}__gte": now - dt.timedelta(days=days), f"{name}__lte": now})
        if operator == "more_than_days_ago":
            return Q(**{f"{name}__lt": now - dt.timedelta(days=as_days(value, path))})
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
    if name == "mobile" and operator not in ("is_set", "is_not_set"):
        raise RuleError(f"{path}: the mobile number is stored encrypted; a rule can only test whether it is set.")
    if operator in ("is_set", "is_not_set"):
        q = Q(**{f"{name}__isnull": False})
        if kind == "string":
            q &= ~Q(**{name: ""})
        return q if operator == "is_set" else ~q
    if name == "email" and operator in ("eq", "neq", "in", "not_in"):
        # Emails are stored lower-cased; compare the same way so "Ann@X.org" finds ann@x.org.
        value = [str(v).lower() for v in as_list(value, path)] if operator in ("in", "not_in") else str(value).lower()
    return _scalar_q(name, kind, operator, value, path)


_READERS: dict[str, Callable[[Any], Func]] = {
    "string": JsonbText,
    "date": JsonbDate,
    "timestamp": JsonbTimestamp,
}


# A compiled condition: the Q over Contact, and (for a positive condition on another table) the uncorrelated
# query of the contact ids it selects, used to turn OR groups into one UNION instead of per-row subplans.
class Compiled(NamedTuple):
    q: Q
    rows: QuerySet | None


def _rows_condition(rows: QuerySet) -> Compiled:
    ids = rows.order_by().values("contact_id")
    return Compiled(Q(Exists(rows.filter(contact_id=OuterRef("pk")))), ids)


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
    if is_sensitive_attribute(name=name.strip()):
        raise RuleError(f"{path}: attribute {name.strip()!r} is sensitive (stored encrypted); rules cannot test it.")
    kind = node.get("type") or "string"
    if kind not in ATTRIBUTE_TYPES:
        raise RuleError(f"{path}: unknown attribute type {kind!r} (use one of: {', '.join(ATTRIBUTE_TYPES)}).")
    operator = _check_operator(kind, node.get("operator"), path)
    value = node.get("value")
    if vendor == "sqlite":
        matched = _sqlite_attribute_rows(name.strip(), kind, operator, value, path)
        if operator == "is_not_set":
            return Compiled(~Q(Exists(matched.filter(contact_id=OuterRef("pk")))), None)
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
        return Compiled(~Q(Exists(present.filter(contact_id=OuterRef("pk")))), None)
    if kind == "boolean":
        return _rows_condition(rows.filter(OTHER_BUCKET, field_value=(operator == "is_true")))
    if kind == "array":
        element = value if isinstance(value, int | float) and not isinstance(value, bool) else as_text(value, path)
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
        element = value if isinstance(value, int | float) and not isinstance(value, bool) else as_text(value, path)
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
        values = [str(v) for v in (as_list(value, path) if operator in ("in", "not_in") else [as_text(value, path)])]
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
        low, high = as_pair(value, path)
        return Q(vnum__gte=as_number(low, path), vnum__lte=as_number(high, path))
    present = Q(vnum__isnull=False)  # negations: Django's NOT (...) would let NULL through
    if operator in ("in", "not_in"):
        q = Q(vnum__in=[as_number(v, path) for v in as_list(value, path)])
        return present & ~q if operator == "not_in" else q
    lookup = {"eq": "exact", "neq": "exact", "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte"}[operator]
    q = Q(**{f"vnum__{lookup}": as_number(value, path)})
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
        days = as_days(spec.get("within_days"), path)
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
        elif (extension := condition_type_of(node)) is not None:
            compiled = extension.compile(node[extension.key], path=path, vendor=vendor)
            q, rows = compiled.q, compiled.rows
        else:
            known = ", ".join(repr(k) for k in ("field", "attribute", "event", "batch", *condition_types()))
            raise RuleError(f"{path}: a condition needs one of {known}.")
    if node.get("negate"):
        return Compiled(~q, None)
    return Compiled(q, rows)


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
        combined = compiled[0].q
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
