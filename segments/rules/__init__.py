"""Rules segments: a JSON tree of conditions compiled to ONE SQL statement over contacts.

Schema (what `Segment.rules` holds and the dashboard builder writes)::

    group      := {"op": "and" | "or", "conditions": [node, ...], "negate": false}
    node       := group | field | attribute | event | batch | engagement

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
    engagement := {"engagement": {"kind": "opened" | "clicked" | "never_opened" | "bounced", "within_days": 30}}
                  (registered by delivery through SEGMENT_RULE_CONDITIONS, see `extensions`; within_days optional)
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
the typed columns generated from the value (`value_num > 70`, `value_text IN (...)`, indexed; see
`compiler._typed_q`), other string operators read `v #>> '{}'`, dates `left(v #>> '{}', 10)::date`. Exact string
operators only match attributes stored as strings.

The whole tree is one statement: AND-ed conditions on other tables are `EXISTS (...)` subqueries (semi-joins);
an OR group over other tables is `id IN (a UNION b ...)` (see `compiler._group_q`). Relative dates ("last N days")
are resolved when compiled.

The package is cut along its seams: `dialect` (the SQL expressions reading jsonb on PostgreSQL and JSON1 on
SQLite), `vocabulary` (types, operators, contact fields and the parsing of condition values), `compiler` (the
tree to one `Q`), `describe` (the tree as lines for the detail page) and `extensions` (condition types that apps
above segments register, like delivery's engagement conditions). Callers import from `segments.rules`.
"""

from __future__ import annotations

from segments.rules.compiler import MAX_CONDITIONS, MAX_DEPTH, compile_rules, rules_contact_ids
from segments.rules.describe import describe_rules
from segments.rules.vocabulary import (
    ATTRIBUTE_TYPES,
    CONTACT_FIELDS,
    NEGATIVE_OPERATORS,
    NO_VALUE_OPERATORS,
    OPERATOR_LABELS,
    OPERATORS,
)

__all__ = [
    "ATTRIBUTE_TYPES",
    "CONTACT_FIELDS",
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "NEGATIVE_OPERATORS",
    "NO_VALUE_OPERATORS",
    "OPERATORS",
    "OPERATOR_LABELS",
    "compile_rules",
    "describe_rules",
    "rules_contact_ids",
]
