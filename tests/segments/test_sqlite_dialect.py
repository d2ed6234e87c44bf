"""Rules on the embedded SQLite database (`make run`) mean what they mean on PostgreSQL.

The suite's database is PostgreSQL (tests/conftest.py), so the SQLite side runs on a throwaway SQLite file in
tmp_path, registered as an extra connection alias with the contacts tables created by the schema editor. Every
operator family runs on both databases over the same rows and must select the same contacts.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.db.models.expressions import RawSQL
from django.utils import timezone

from contacts.models import Contact, ContactAttribute, FunnelEvent
from segments.errors import SqlSegmentError
from segments.rules import compile_rules
from segments.sql import materialised_ids_sql, run_read_only, sql_check, wrapped_ids_sql

pytestmark = pytest.mark.django_db

SQLITE_ALIAS = "segments_sqlite"


@pytest.fixture
def sqlite_alias(tmp_path: Path) -> Iterator[str]:
    databases = {
        "default": dict(connections["default"].settings_dict),
        SQLITE_ALIAS: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "embedded.sqlite3")},
    }
    settings_dict = connections.configure_settings(databases)[SQLITE_ALIAS]
    wrapper = DatabaseWrapper(settings_dict, SQLITE_ALIAS)
    connections[SQLITE_ALIAS] = wrapper
    try:
        with wrapper.schema_editor() as editor:
            for model in (Contact, ContactAttribute, FunnelEvent):
                editor.create_model(model)
        yield SQLITE_ALIAS
    finally:
        wrapper.close()
        del connections[SQLITE_ALIAS]


@pytest.fixture(params=["postgresql", "sqlite"])
def alias(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_alias"))
    return "default"


LABELS = "abcdefgh"


def _seed(using: str) -> dict[str, int]:
    today = timezone.localdate()
    now = timezone.now()
    ids = {label: Contact.objects.using(using).create(email=f"{label}@example.org").pk for label in LABELS}
    rows: list[tuple[str, str, str, Any]] = [
        ("a", "score", "numeric", 10),
        ("b", "score", "numeric", 50.5),
        ("c", "score", "numeric", 90),
        ("d", "score", "numeric", "90"),
        ("e", "score", "numeric", None),
        ("a", "city", "string", "Oslo"),
        ("b", "city", "string", "Bergen"),
        ("c", "city", "string", "oslo east"),
        ("d", "city", "string", 42),
        ("e", "city", "string", ""),
        ("a", "born", "date", (today - dt.timedelta(days=3)).isoformat()),
        ("b", "born", "date", "2001-05-17"),
        ("c", "born", "date", "not a date"),
        ("a", "seen", "timestamp", (now - dt.timedelta(days=2)).isoformat()),
        ("b", "seen", "timestamp", "2020-01-01T10:00:00+02:00"),
        ("c", "seen", "timestamp", "2020-01-01"),
        ("a", "vip", "boolean", True),
        ("b", "vip", "boolean", False),
        ("c", "vip", "boolean", "true"),
        ("a", "tags", "array", ["alpha", "beta"]),
        ("b", "tags", "array", ["gamma", 3]),
        ("c", "tags", "array", []),
        ("d", "tags", "array", "alpha"),
        ("e", "tags", "array", ["3"]),
    ]
    ContactAttribute.objects.using(using).bulk_create(
        ContactAttribute(contact_id=ids[label], field_name=name, field_type=kind, field_value=value)
        for label, name, kind, value in rows
    )
    FunnelEvent.objects.using(using).create(contact_id=ids["g"], funnel_type="sales", to_stage="enrolled")
    return ids


def _matching(using: str, ids: dict[str, int], rules: dict[str, Any]) -> str:
    vendor = connections[using].vendor
    found = set(Contact.objects.using(using).filter(compile_rules(rules, vendor=vendor)).values_list("id", flat=True))
    return "".join(label for label in LABELS if ids[label] in found)


def attr(name: str, kind: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"attribute": name, "type": kind, "operator": operator, "value": value}


CASES: list[tuple[dict[str, Any], str]] = [
    (attr("score", "numeric", "gt", 40), "bc"),
    (attr("score", "numeric", "lt", "40"), "a"),
    (attr("score", "numeric", "eq", 90), "c"),
    (attr("score", "numeric", "neq", 90), "ab"),
    (attr("score", "numeric", "lte", 50.5), "ab"),
    (attr("score", "numeric", "gte", 90), "c"),
    (attr("score", "numeric", "between", [10, 50.5]), "ab"),
    (attr("score", "numeric", "in", [10, 90]), "ac"),
    (attr("score", "numeric", "not_in", [10]), "bc"),
    (attr("score", "numeric", "is_set"), "abcd"),
    (attr("score", "numeric", "is_not_set"), "efgh"),
    (attr("city", "string", "eq", "Oslo"), "a"),
    (attr("city", "string", "neq", "Oslo"), "bce"),
    (attr("city", "string", "contains", "OSLO"), "ac"),
    (attr("city", "string", "not_contains", "oslo"), "bde"),
    (attr("city", "string", "starts_with", "ber"), "b"),
    (attr("city", "string", "in", ["Oslo", "Bergen", "42"]), "ab"),
    (attr("city", "string", "not_in", ["Oslo"]), "bce"),
    (attr("born", "date", "within_last_days", 7), "a"),
    (attr("born", "date", "more_than_days_ago", 30), "b"),
    (attr("born", "date", "before", "2002-01-01"), "b"),
    (attr("born", "date", "after", "2002-01-01"), "a"),
    (attr("born", "date", "eq", "2001-05-17"), "b"),
    (attr("born", "date", "between", ["2001-01-01", "2001-12-31"]), "b"),
    (attr("seen", "timestamp", "within_last_days", 7), "a"),
    (attr("seen", "timestamp", "more_than_days_ago", 30), "bc"),
    (attr("seen", "timestamp", "before", "2020-01-01"), ""),
    (attr("seen", "timestamp", "eq", "2020-01-01"), "bc"),
    (attr("seen", "timestamp", "after", "2020-01-01"), "a"),
    (attr("seen", "timestamp", "between", ["2019-12-31", "2020-01-02"]), "bc"),
    (attr("vip", "boolean", "is_true"), "a"),
    (attr("vip", "boolean", "is_false"), "b"),
    (attr("vip", "boolean", "is_not_set"), "defgh"),
    (attr("tags", "array", "contains", "alpha"), "a"),
    (attr("tags", "array", "contains", 3), "b"),
    (attr("tags", "array", "contains", "3"), "e"),
    (attr("tags", "array", "not_contains", "alpha"), "bcde"),
    (attr("tags", "array", "is_set"), "abcde"),
]


@pytest.mark.parametrize(
    ("condition", "expected"), CASES, ids=[f"{c['attribute']}-{c['operator']}-{c['value']}" for c, _ in CASES]
)
def test_attribute_operator_selects_the_same_contacts_on_both_databases(
    alias: str, condition: dict[str, Any], expected: str
) -> None:
    ids = _seed(alias)
    assert _matching(alias, ids, {"op": "and", "conditions": [condition]}) == expected


MIXED_OR = {
    "op": "or",
    "conditions": [
        attr("score", "numeric", "gt", 80),
        attr("city", "string", "contains", "berg"),
        attr("born", "date", "within_last_days", 7),
        attr("tags", "array", "contains", "3"),
        {"field": "contact.email", "operator": "eq", "value": "f@example.org"},
        {"event": {"to_stage": "enrolled"}},
    ],
}


def test_or_group_mixing_attribute_field_and_event_conditions(alias: str) -> None:
    ids = _seed(alias)
    assert _matching(alias, ids, MIXED_OR) == "abcefg"


def test_and_of_or_group_and_negated_attribute(alias: str) -> None:
    ids = _seed(alias)
    rules = {"op": "and", "conditions": [MIXED_OR, attr("vip", "boolean", "is_set") | {"negate": True}]}
    assert _matching(alias, ids, rules) == "efg"


def _sqlite_sql(sqlite_alias: str, condition: dict[str, Any]) -> str:
    rules = {"op": "and", "conditions": [condition]}
    query = Contact.objects.using(sqlite_alias).filter(compile_rules(rules, vendor="sqlite")).query
    sql, _params = query.get_compiler(using=sqlite_alias).as_sql()
    assert "jsonb" not in sql and "#>>" not in sql and "::" not in sql
    return str(sql)


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        (attr("score", "numeric", "gt", 40), "WHEN json_type(U0.\"field_value\") IN ('integer', 'real') THEN"),
        (attr("city", "string", "eq", "Oslo"), "WHEN json_type(U0.\"field_value\") = 'text' THEN json_extract("),
        (attr("city", "string", "contains", "os"), "ELSE CAST(json_extract(U0.\"field_value\", '$') AS TEXT)"),
        (attr("born", "date", "before", "2020-01-01"), "THEN substr(json_extract(U0.\"field_value\", '$'), 1, 10)"),
        (attr("seen", "timestamp", "within_last_days", 3), "THEN strftime('%%Y-%%m-%%d %%H:%%M:%%f', json_extract("),
        (attr("vip", "boolean", "is_true"), 'json_type(U0."field_value") = %s'),
        (attr("tags", "array", "contains", "x"), 'EXISTS (SELECT 1 FROM json_each(U0."field_value") AS herald_e'),
        (attr("tags", "array", "is_not_set"), "WHERE NOT (EXISTS(SELECT"),
    ],
    ids=lambda v: v["operator"] if isinstance(v, dict) else "",
)
def test_sqlite_sql_uses_json1_functions(sqlite_alias: str, condition: dict[str, Any], fragment: str) -> None:
    assert fragment in _sqlite_sql(sqlite_alias, condition)


def test_postgresql_attribute_sql_reads_the_generated_value_columns() -> None:
    sql = str(Contact.objects.filter(compile_rules({"conditions": [attr("score", "numeric", "gt", 40)]})).query)
    assert 'U0."value_num" > 40' in sql and "json_type" not in sql


# --- SQL segments on SQLite: PRAGMA query_only + a progress-handler timeout instead of PostgreSQL's SET LOCAL ---


def _contacts(using: str, count: int) -> list[int]:
    return [Contact.objects.using(using).create(email=f"c{n}@example.org").pk for n in range(count)]


def test_sqlite_sql_check_counts_the_ids(sqlite_alias: str) -> None:
    _contacts(sqlite_alias, 3)
    check = sql_check("SELECT id FROM contacts_contact WHERE email LIKE 'c%';", using=sqlite_alias)
    assert (check.sql, check.column, check.count) == ("SELECT id FROM contacts_contact WHERE email LIKE 'c%'", "id", 3)


def test_sqlite_wrapped_ids_feed_a_contact_query(sqlite_alias: str) -> None:
    ids = _contacts(sqlite_alias, 4)
    sql = "WITH odd AS (SELECT id AS contact_id FROM contacts_contact WHERE id % 2 = 1) SELECT contact_id FROM odd"
    raw = RawSQL(wrapped_ids_sql(sql, using=sqlite_alias), [])
    found = Contact.objects.using(sqlite_alias).filter(pk__in=raw).values_list("id", flat=True)
    assert sorted(found) == [pk for pk in ids if pk % 2 == 1]


def test_sqlite_sql_check_refuses_a_text_column(sqlite_alias: str) -> None:
    _contacts(sqlite_alias, 1)
    with pytest.raises(SqlSegmentError, match="'email' is not an integer contact id"):
        sql_check("SELECT email FROM contacts_contact", using=sqlite_alias)


def test_sqlite_sql_check_reports_syntax_errors(sqlite_alias: str) -> None:
    with pytest.raises(SqlSegmentError, match=r"^SQL syntax error: near"):
        sql_check("SELECT id FROM contacts_contact WHERE", using=sqlite_alias)


def test_sqlite_read_only_guard_refuses_writes_and_is_undone(sqlite_alias: str) -> None:
    (pk,) = _contacts(sqlite_alias, 1)
    with pytest.raises(SqlSegmentError, match="tried to change data"):
        run_read_only(lambda cursor: cursor.execute("UPDATE contacts_contact SET first_name = 'x'"), using=sqlite_alias)
    Contact.objects.using(sqlite_alias).filter(pk=pk).update(first_name="after")  # query_only is off again
    assert Contact.objects.using(sqlite_alias).get(pk=pk).first_name == "after"


def test_sqlite_slow_query_stops_at_the_timeout(sqlite_alias: str) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    started = time.monotonic()
    with pytest.raises(SqlSegmentError, match=r"longer than 0\.2 s"):
        run_read_only(lambda cursor: cursor.execute(endless), timeout=200, using=sqlite_alias)
    assert time.monotonic() - started < 5


# --- SQLite's authorizer: reading the contact tables is the only action a segment query may take ----------------


def _with_auth_user(sqlite_alias: str) -> None:
    with connections[sqlite_alias].cursor() as cursor:
        cursor.execute("CREATE TABLE auth_user (id integer PRIMARY KEY, password text)")
        cursor.execute("INSERT INTO auth_user (password) VALUES ('pbkdf2_sha256$secret')")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM auth_user",
        "SELECT id FROM contacts_contact WHERE id IN (SELECT id FROM auth_user)",
        "SELECT id FROM contacts_contact WHERE EXISTS (SELECT 1 FROM auth_user WHERE password LIKE 'p%')",
        "SELECT count(*) FROM auth_user",
        'SELECT id FROM "AUTH_USER"',
        "SELECT rootpage FROM sqlite_master",
        "SELECT rootpage FROM main.sqlite_schema",
    ],
)
def test_sqlite_authorizer_refuses_every_table_but_the_contact_tables(sqlite_alias: str, sql: str) -> None:
    _with_auth_user(sqlite_alias)
    with pytest.raises(SqlSegmentError, match=r"^The table \w+ is not readable") as info:
        sql_check(sql, using=sqlite_alias)
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT id FROM contacts_contact WHERE sqlite_version() <> ''", "sqlite_version"),
        ("SELECT id FROM contacts_contact WHERE load_extension('x') IS NULL", "load_extension"),
        ("SELECT id FROM contacts_contact WHERE length(randomblob(10)) > 0", "randomblob"),
    ],
)
def test_sqlite_authorizer_refuses_functions_off_the_list(sqlite_alias: str, sql: str, function: str) -> None:
    with pytest.raises(SqlSegmentError, match=f"The function {function} is not allowed"):
        sql_check(sql, using=sqlite_alias)


@pytest.mark.parametrize(
    "sql", ["PRAGMA query_only = OFF", "ATTACH DATABASE ':memory:' AS other", "DELETE FROM contacts_contact"]
)
def test_sqlite_authorizer_allows_no_action_but_reading(sqlite_alias: str, sql: str) -> None:
    (pk,) = _contacts(sqlite_alias, 1)
    with pytest.raises(SqlSegmentError, match="tried to change data"):
        run_read_only(lambda cursor: cursor.execute(sql), using=sqlite_alias)
    assert Contact.objects.using(sqlite_alias).filter(pk=pk).exists()


def test_sqlite_authorizer_is_removed_after_the_segment_query(sqlite_alias: str) -> None:
    _with_auth_user(sqlite_alias)
    with pytest.raises(SqlSegmentError):
        sql_check("SELECT id FROM auth_user", using=sqlite_alias)
    with connections[sqlite_alias].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM auth_user")
        assert cursor.fetchone() == (1,)


def test_sqlite_materialised_ids_feed_a_contact_query(sqlite_alias: str) -> None:
    ids = _contacts(sqlite_alias, 3)
    subquery, params = materialised_ids_sql("SELECT id FROM contacts_contact WHERE id > 1", using=sqlite_alias)
    found = Contact.objects.using(sqlite_alias).filter(pk__in=RawSQL(subquery, params)).values_list("id", flat=True)
    assert sorted(found) == [pk for pk in ids if pk > 1]
