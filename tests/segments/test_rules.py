from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from django.utils import timezone

from contacts.models import Batch, Contact
from segments.errors import RuleError
from segments.models import Segment
from segments.rules import compile_rules, rules_contact_ids
from segments.selectors import segment_contact_ids, segment_sql_text
from tests.factories import BatchFactory, add_to_batch
from tests.segments.util import add_event, make_contact, set_attribute

pytestmark = pytest.mark.django_db


def ids(rules: dict[str, Any]) -> set[int]:
    return set(rules_contact_ids(rules))


def one(condition: dict[str, Any]) -> set[int]:
    return ids({"op": "and", "conditions": [condition]})


def test_empty_rules_match_everyone() -> None:
    a, b = make_contact(), make_contact()
    assert ids({"op": "and", "conditions": []}) == {a.pk, b.pk}


def test_contact_string_field_operators() -> None:
    ann = make_contact(first_name="Ann", email="ann@uni.edu")
    bob = make_contact(first_name="Bob", email="bob@corp.com")
    assert one({"field": "contact.first_name", "operator": "eq", "value": "Ann"}) == {ann.pk}
    assert one({"field": "contact.first_name", "operator": "neq", "value": "Ann"}) == {bob.pk}
    assert one({"field": "contact.email", "operator": "contains", "value": "UNI.edu"}) == {ann.pk}
    assert one({"field": "contact.email", "operator": "eq", "value": "BOB@corp.com"}) == {bob.pk}
    assert one({"field": "contact.first_name", "operator": "in", "value": ["Bob", "Cy"]}) == {bob.pk}


def test_contact_field_is_set_treats_blank_as_unset() -> None:
    with_mobile = make_contact(mobile="+4712345")
    without = make_contact(mobile="")
    assert one({"field": "contact.mobile", "operator": "is_set"}) == {with_mobile.pk}
    assert one({"field": "contact.mobile", "operator": "is_not_set"}) == {without.pk}


def test_email_status_condition() -> None:
    subscribed = make_contact()
    bounced = make_contact(status=Contact.Status.BOUNCED)
    assert one({"field": "contact.status", "operator": "eq", "value": "subscribed"}) == {subscribed.pk}
    assert one({"field": "contact.status", "operator": "in", "value": ["bounced", "complained"]}) == {bounced.pk}


def test_unknown_status_is_a_rule_error() -> None:
    with pytest.raises(RuleError, match="conditions\\[0\\]"):
        compile_rules({"conditions": [{"field": "contact.status", "operator": "eq", "value": "gone"}]})


def test_contact_timestamp_within_last_days() -> None:
    new = make_contact(created_at=timezone.now() - dt.timedelta(days=2))
    old = make_contact(created_at=timezone.now() - dt.timedelta(days=40))
    assert one({"field": "contact.created_at", "operator": "within_last_days", "value": 7}) == {new.pk}
    assert one({"field": "contact.created_at", "operator": "more_than_days_ago", "value": 30}) == {old.pk}


def test_numeric_attribute_operators() -> None:
    low, mid, high = make_contact(), make_contact(), make_contact()
    for contact, score in ((low, 10), (mid, 50), (high, 90)):
        set_attribute(contact, "score", "numeric", score)
    cond = {"attribute": "score", "type": "numeric"}
    assert one(cond | {"operator": "gt", "value": 40}) == {mid.pk, high.pk}
    assert one(cond | {"operator": "lt", "value": "40"}) == {low.pk}
    assert one(cond | {"operator": "eq", "value": 50}) == {mid.pk}
    assert one(cond | {"operator": "neq", "value": 50}) == {low.pk, high.pk}
    assert one(cond | {"operator": "between", "value": [10, 50]}) == {low.pk, mid.pk}
    assert one(cond | {"operator": "in", "value": [10, 90]}) == {low.pk, high.pk}


def test_numeric_attribute_ignores_values_of_the_wrong_json_type() -> None:
    good, bad = make_contact(), make_contact()
    set_attribute(good, "score", "numeric", 70)
    set_attribute(bad, "score", "numeric", "seventy")
    assert one({"attribute": "score", "type": "numeric", "operator": "gt", "value": 1}) == {good.pk}


def test_string_attribute_contains_and_in() -> None:
    oslo, bergen = make_contact(), make_contact()
    set_attribute(oslo, "city", "string", "Oslo")
    set_attribute(bergen, "city", "string", "Bergen")
    assert one({"attribute": "city", "type": "string", "operator": "contains", "value": "sl"}) == {oslo.pk}
    assert one({"attribute": "city", "type": "string", "operator": "in", "value": "Bergen, Trondheim"}) == {bergen.pk}


def test_exact_string_conditions_read_string_attributes_only() -> None:
    # Dates are JSON strings too; an exact string condition on one is a type mismatch, which never matches.
    city, joined = make_contact(), make_contact()
    set_attribute(city, "tag", "string", "2026-01-05")
    set_attribute(joined, "tag", "date", "2026-01-05")
    assert one({"attribute": "tag", "type": "string", "operator": "eq", "value": "2026-01-05"}) == {city.pk}


def test_long_strings_compare_exactly_though_only_short_ones_are_indexed() -> None:
    long_text = "x" * 2000
    short, long = make_contact(), make_contact()
    set_attribute(short, "bio", "string", "short")
    set_attribute(long, "bio", "string", long_text)
    assert one({"attribute": "bio", "type": "string", "operator": "eq", "value": long_text}) == {long.pk}
    assert one({"attribute": "bio", "type": "string", "operator": "neq", "value": "short"}) == {long.pk}
    assert one({"attribute": "bio", "type": "string", "operator": "in", "value": ["short", "other"]}) == {short.pk}


def test_date_attribute_before_after_and_within() -> None:
    early, late = make_contact(), make_contact()
    set_attribute(early, "enrolled_on", "date", "2024-01-15")
    set_attribute(late, "enrolled_on", "date", timezone.localdate().isoformat())
    cond = {"attribute": "enrolled_on", "type": "date"}
    assert one(cond | {"operator": "before", "value": "2025-01-01"}) == {early.pk}
    assert one(cond | {"operator": "after", "value": "2025-01-01"}) == {late.pk}
    assert one(cond | {"operator": "within_last_days", "value": 3}) == {late.pk}


def test_timestamp_attribute_between() -> None:
    inside, outside = make_contact(), make_contact()
    set_attribute(inside, "last_login", "timestamp", "2025-03-10T12:00:00+00:00")
    set_attribute(outside, "last_login", "timestamp", "2025-05-01T12:00:00+00:00")
    cond = {
        "attribute": "last_login",
        "type": "timestamp",
        "operator": "between",
        "value": ["2025-03-01", "2025-03-31"],
    }
    assert one(cond) == {inside.pk}


def test_boolean_and_array_attributes() -> None:
    vip, regular = make_contact(), make_contact()
    set_attribute(vip, "vip", "boolean", True)
    set_attribute(regular, "vip", "boolean", False)
    set_attribute(vip, "tags", "array", ["alumni", "mba"])
    assert one({"attribute": "vip", "type": "boolean", "operator": "is_true"}) == {vip.pk}
    assert one({"attribute": "vip", "type": "boolean", "operator": "is_false"}) == {regular.pk}
    assert one({"attribute": "tags", "type": "array", "operator": "contains", "value": "mba"}) == {vip.pk}


def test_attribute_is_set_and_is_not_set() -> None:
    has, hasnt = make_contact(), make_contact()
    set_attribute(has, "city", "string", "Oslo")
    assert one({"attribute": "city", "type": "string", "operator": "is_set"}) == {has.pk}
    assert one({"attribute": "city", "type": "string", "operator": "is_not_set"}) == {hasnt.pk}


def test_operator_must_fit_the_type() -> None:
    with pytest.raises(RuleError, match="does not fit type 'boolean'"):
        compile_rules({"conditions": [{"attribute": "vip", "type": "boolean", "operator": "gt", "value": 1}]})


def test_funnel_event_within_window() -> None:
    recent, old, other = make_contact(), make_contact(), make_contact()
    add_event(recent, "applied", days_ago=3)
    add_event(old, "applied", days_ago=60)
    add_event(other, "enrolled", days_ago=1)
    assert one({"event": {"to_stage": "applied", "within_days": 30}}) == {recent.pk}
    assert one({"event": {"to_stage": "applied"}}) == {recent.pk, old.pk}


def test_funnel_event_by_funnel_type_and_from_stage() -> None:
    sales, service = make_contact(), make_contact()
    add_event(sales, "won", funnel="sales", from_stage="offer")
    add_event(service, "won", funnel="service-delivery", from_stage="onboarding")
    assert one({"event": {"to_stage": "won", "funnel_type": "service-delivery"}}) == {service.pk}
    assert one({"event": {"to_stage": "won", "from_stage": "offer"}}) == {sales.pk}


def test_batch_membership() -> None:
    inside, outside = make_contact(), make_contact()
    batch = cast(Batch, BatchFactory())
    add_to_batch(batch, [inside])
    assert one({"batch": batch.pk}) == {inside.pk}
    assert one({"batch": batch.pk, "negate": True}) == {outside.pk}


def test_and_or_groups_nest() -> None:
    a, b, c = make_contact(first_name="A"), make_contact(first_name="B"), make_contact(first_name="C")
    set_attribute(a, "score", "numeric", 90)
    add_event(b, "applied")
    rules = {
        "op": "and",
        "conditions": [
            {"field": "contact.status", "operator": "eq", "value": "subscribed"},
            {
                "op": "or",
                "conditions": [
                    {"attribute": "score", "type": "numeric", "operator": "gte", "value": 80},
                    {"event": {"to_stage": "applied", "within_days": 7}},
                ],
            },
        ],
    }
    assert ids(rules) == {a.pk, b.pk}
    assert c.pk not in ids(rules)


def test_rules_compile_to_one_statement_shown_as_sql() -> None:
    segment = Segment(
        name="s",
        type=Segment.Type.RULES,
        rules={
            "op": "or",
            "conditions": [
                {"attribute": "score", "type": "numeric", "operator": "gt", "value": 5},
                {"event": {"to_stage": "applied", "within_days": 7}},
            ],
        },
    )
    sql = segment_sql_text(segment=segment)
    assert ";" not in sql
    assert sql.upper().startswith("SELECT")
    assert "UNION" in sql.upper() and "'applied'" in sql
    # The query is a QuerySet (usable as a subquery), not a list.
    assert hasattr(segment_contact_ids(segment=segment), "query")


def test_bad_rules_name_the_faulty_condition() -> None:
    with pytest.raises(RuleError, match=r"conditions\[1\]\.conditions\[0\]"):
        compile_rules(
            {
                "op": "and",
                "conditions": [
                    {"field": "contact.email", "operator": "is_set"},
                    {
                        "op": "or",
                        "conditions": [{"attribute": "score", "type": "numeric", "operator": "gt", "value": "x"}],
                    },
                ],
            }
        )


def test_or_mixing_fields_negations_and_other_tables() -> None:
    bounced = make_contact(status=Contact.Status.BOUNCED)
    applied = make_contact()
    add_event(applied, "applied")
    no_city = make_contact()
    with_city = make_contact()
    set_attribute(with_city, "city", "string", "Oslo")
    rules = {
        "op": "or",
        "conditions": [
            {"field": "contact.status", "operator": "eq", "value": "bounced"},
            {"event": {"to_stage": "applied"}},
            {"attribute": "city", "type": "string", "operator": "is_not_set"},
        ],
    }
    assert ids(rules) == {bounced.pk, applied.pk, no_city.pk}
    assert ids({"op": "and", "conditions": [rules], "negate": True}) == {with_city.pk}


def test_and_of_conditions_on_other_tables_uses_exists() -> None:
    segment = Segment(
        name="s",
        type=Segment.Type.RULES,
        rules={"op": "and", "conditions": [{"event": {"to_stage": "applied"}}, {"batch": 1}]},
    )
    assert segment_sql_text(segment=segment).upper().count("EXISTS") == 2
