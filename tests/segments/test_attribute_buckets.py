"""PostgreSQL keeps every attribute row in exactly one of three partial indexes by name (numbers, short strings,
the rest; contacts migrations 0005 and 0006): lookups by name read all three, conditions the ones they need."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from contacts.models import Contact
from contacts.selectors import stored_attribute_types
from segments.rules import rules_contact_ids
from segments.selectors import attribute_catalog
from tests.segments.util import make_contact, set_attribute

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_per_bucket() -> Contact:
    contact = make_contact()
    set_attribute(contact, "score", "numeric", 7)  # value_num
    set_attribute(contact, "city", "string", "Oslo")  # value_text
    set_attribute(contact, "vip", "boolean", True)  # the rest
    set_attribute(contact, "bio", "string", "x" * 2000)  # the rest: too long for value_text
    set_attribute(contact, "born", "date", "2001-05-17")  # the rest
    return contact


def test_catalog_lists_attributes_of_every_bucket(one_per_bucket: Contact) -> None:
    assert attribute_catalog() == [
        ("bio", "string"),
        ("born", "date"),
        ("city", "string"),
        ("score", "numeric"),
        ("vip", "boolean"),
    ]


def test_stored_types_are_found_in_every_bucket_and_new_names_are_left_out(one_per_bucket: Contact) -> None:
    assert stored_attribute_types(["score", "city", "vip", "bio", "born", "new"]) == {
        "score": "numeric",
        "city": "string",
        "vip": "boolean",
        "bio": "string",
        "born": "date",
    }


def _plan(condition: dict[str, Any]) -> str:
    """The plan of the condition among 30,000 rows of other attributes, one per bucket (fresh statistics)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_contactattribute (contact_id, field_name, field_type, field_value, created_at, "
            "updated_at) SELECT g, b.name, b.type, b.value, now(), now() FROM generate_series(1, 10000) g, "
            "(VALUES ('filler_n', 'numeric', '1'::jsonb), ('filler_s', 'string', '\"a\"'), "
            "('filler_b', 'boolean', 'true')) AS b(name, type, value)"
        )
        cursor.execute("ANALYZE contacts_contactattribute")
        sql, params = rules_contact_ids({"op": "and", "conditions": [condition]}).query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


# Without the plain field_name index, a condition must still reach its rows through an index: the partial ones
# (BitmapOr for is_set) when the planner starts from the attributes, the unique (contact, name) one when it starts
# from the contacts. Either way, never a pass over the whole attribute table.


def test_boolean_condition_reads_no_whole_table(one_per_bucket: Contact) -> None:
    plan = _plan({"attribute": "vip", "type": "boolean", "operator": "is_true"})
    assert "Seq Scan on contacts_contactattribute" not in plan
    assert "contact_attribute_other" in plan or "contact_attribute_uniq" in plan


def test_is_set_reads_no_whole_table(one_per_bucket: Contact) -> None:
    plan = _plan({"attribute": "city", "type": "string", "operator": "is_set"})
    assert "Seq Scan on contacts_contactattribute" not in plan
    partial = all(
        index in plan for index in ("contact_attribute_number", "contact_attribute_string", "contact_attribute_other")
    )
    assert partial or "contact_attribute_uniq" in plan
