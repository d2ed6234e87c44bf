"""SQL segments are enforced by privilege, not by a deny-list (ARCHITECTURE §7, issue 13 §1).

Two independent layers, each tested on its own:
- the parse layer (PostgreSQL's parser via pglast): one table of hostile queries, each refused before anything
  runs; the bypasses that beat the old scanner are the first rows;
- the privilege layer (`run_read_only`: the `herald_segment_reader` role, READ ONLY, statement_timeout), called
  directly with queries the parse layer would refuse, as if it had been bypassed.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.db import connection

from contacts.models import Contact
from delivery.models import Delivery
from delivery.services import send_create, send_start
from segments import services
from segments import sql as segment_sql
from segments.errors import SqlSegmentError
from segments.models import Segment
from segments.selectors import segment_contact_ids, segment_count, segment_sample
from segments.sql import READER_ROLE, allowed_tables, run_read_only, sql_check, sql_clean
from tests.segments.util import make_contact

pytestmark = pytest.mark.django_db

# (id, query, a fragment of the refusal). Every row must be refused by `sql_clean`, before anything runs.
HOSTILE: list[tuple[str, str, str]] = [
    # --- the bypasses of the old scanner (issue 13) ---
    ("unicode-escaped-identifier", r'SELECT id FROM U&"auth\005fuser"', "auth_user"),
    (
        "e-string-hides-a-union",
        r"SELECT id FROM contacts_contact WHERE first_name = E'\'' UNION SELECT id FROM auth_user --'",
        "auth_user",
    ),
    ("password-hash-in-a-cast-error", "SELECT password::int FROM auth_user", "auth_user"),
    ("api-token-in-a-cast-error", "SELECT key::int FROM authtoken_token", "authtoken_token"),
    ("pg-read-file", "SELECT length(pg_read_file('/etc/passwd'))::int", "pg_read_file"),
    (
        "set-config-role",
        "SELECT id FROM contacts_contact WHERE set_config('role', 'postgres', true) <> ''",
        "set_config",
    ),
    ("pg-sleep", "SELECT id FROM contacts_contact WHERE pg_sleep(10) IS NOT NULL", "pg_sleep"),
    (
        "lo-from-bytea-guarded-on-read-only",
        "SELECT id FROM contacts_contact WHERE CASE WHEN current_setting('transaction_read_only') = 'off' "
        "THEN lo_from_bytea(0, 'x') > 0 ELSE true END",
        "current_setting",
    ),
    ("lo-from-bytea", "SELECT lo_from_bytea(0, 'x')::bigint", "lo_from_bytea"),
    ("auth-group", "SELECT id FROM auth_group", "auth_group"),
    ("outbox", "SELECT id FROM delivery_outboxmessage", "delivery_outboxmessage"),
    ("admin-log", "SELECT user_id FROM django_admin_log", "django_admin_log"),
    ("information-schema", "SELECT 1 FROM information_schema.tables", "information_schema.tables"),
    # --- every escape form of a name or a string ---
    ("quoted-identifier", 'SELECT id FROM "auth_user"', "auth_user"),
    ("upper-case-folds", "SELECT id FROM AUTH_USER", "auth_user"),
    ("unicode-escape-4-digit", r'SELECT id FROM U&"\0061uth_user"', "auth_user"),
    ("unicode-escape-6-digit", r'SELECT id FROM U&"\+000061uth_user"', "auth_user"),
    ("unicode-escape-custom-char", "SELECT id FROM U&\"!0061uth_user\" UESCAPE '!'", "auth_user"),
    ("public-qualified", "SELECT id FROM public.auth_user", "auth_user"),
    ("only", "SELECT id FROM ONLY auth_user", "auth_user"),
    ("table-statement", "TABLE auth_user", "auth_user"),
    (
        "dollar-quote-hides-a-union",
        "SELECT id FROM contacts_contact WHERE first_name = $$'$$ UNION SELECT id FROM auth_user",
        "auth_user",
    ),
    (
        "tagged-dollar-quote-hides-a-semicolon",
        "SELECT id FROM contacts_contact WHERE first_name = $q$;$q$ UNION SELECT id FROM auth_user",
        "auth_user",
    ),
    ("block-comment", "SELECT id FROM contacts_contact UNION SELECT id FROM/**/auth_user", "auth_user"),
    (
        "nested-comment",
        "SELECT id FROM contacts_contact /* /* */ UNION SELECT id FROM auth_user */ UNION SELECT id FROM auth_user",
        "auth_user",
    ),
    (
        "line-comment",
        "SELECT id FROM contacts_contact --\nUNION SELECT user_id FROM django_admin_log",
        "django_admin_log",
    ),
    ("scalar-subquery", "SELECT (SELECT id FROM auth_user LIMIT 1)", "auth_user"),
    (
        "cte-reads-the-real-table-it-shadows",
        "WITH auth_user AS (SELECT id FROM auth_user) SELECT id FROM auth_user",
        "auth_user",
    ),
    (
        "cte-name-out-of-scope",
        "SELECT id FROM contacts_contact WHERE EXISTS (WITH auth_user AS (SELECT 1 AS id) SELECT 1) "
        "AND id IN (SELECT id FROM auth_user)",
        "auth_user",
    ),
    # --- every catalog ---
    ("pg-catalog-authid", "SELECT 1 FROM pg_catalog.pg_authid", "pg_catalog.pg_authid"),
    ("pg-shadow", "SELECT usesysid::int FROM pg_shadow", "pg_shadow"),
    ("pg-class", "SELECT 1 FROM pg_class", "pg_class"),
    ("pg-stat-activity", "SELECT pid FROM pg_stat_activity", "pg_stat_activity"),
    ("pg-settings", "SELECT 1 FROM pg_settings", "pg_settings"),
    ("information-schema-columns", "SELECT 1 FROM information_schema.columns", "information_schema.columns"),
    ("database-qualified", "SELECT 1 FROM herald.pg_catalog.pg_class", "herald.pg_catalog.pg_class"),
    ("regclass-cast", "SELECT 'auth_user'::regclass::oid::int", "regclass"),
    ("to-regclass", "SELECT to_regclass('auth_user')::oid::int", "to_regclass"),
    # --- system columns ---
    ("ctid", "SELECT id FROM contacts_contact WHERE ctid::text <> ''", "ctid"),
    ("tableoid", "SELECT tableoid::int FROM contacts_contact", "tableoid"),
    ("xmin", "SELECT c.id FROM contacts_contact c WHERE c.xmin::text <> ''", "xmin"),
    # --- every dangerous function family ---
    ("files-ls-dir", "SELECT 1 FROM pg_ls_dir('.')", "pg_ls_dir"),
    ("files-stat", "SELECT (pg_stat_file('PG_VERSION')).size::int", "pg_stat_file"),
    ("files-qualified", "SELECT length(pg_catalog.pg_read_binary_file('x'))", "pg_read_binary_file"),
    ("large-object-import", "SELECT lo_import('/etc/passwd')::bigint", "lo_import"),
    ("large-object-export", "SELECT lo_export(1, '/tmp/x')::int", "lo_export"),
    ("dblink", "SELECT 1 FROM dblink('dbname=herald', 'SELECT 1') AS t(x int)", "dblink"),
    ("sql-in-a-string", "SELECT length(query_to_xml('SELECT * FROM auth_user', true, true, '')::text)", "query_to_xml"),
    ("settings-read", "SELECT length(current_setting('data_directory'))", "current_setting"),
    ("other-sessions", "SELECT pg_terminate_backend(1)::int", "pg_terminate_backend"),
    ("advisory-lock", "SELECT pg_advisory_lock(1)::text::int", "pg_advisory_lock"),
    ("notify", "SELECT length(pg_notify('c', 'x')::text)", "pg_notify"),
    ("sequence", "SELECT nextval('contacts_contact_id_seq')", "nextval"),
    ("transaction-ids", "SELECT txid_current()", "txid_current"),
    ("server-facts", "SELECT length(version())", "version"),
    ("network", "SELECT length(inet_server_addr()::text)", "inet_server_addr"),
    ("privilege-probe", "SELECT has_table_privilege('auth_user', 'select')::int", "has_table_privilege"),
    ("other-schema-function", "SELECT id FROM contacts_contact WHERE public.lower(email) = ''", "public.lower"),
    ("xml", "SELECT length(xpath('/a', '<a/>'::xml)::text)", "xpath"),
    ("current-user", "SELECT id FROM contacts_contact WHERE current_user = 'postgres'", "CURRENT_USER"),
    ("session-user", "SELECT id FROM contacts_contact WHERE session_user = 'postgres'", "SESSION_USER"),
    ("other-schema-operator", "SELECT id FROM contacts_contact WHERE id OPERATOR(public.=) 1", "operator"),
    # --- statement shapes ---
    ("select-into", "SELECT id INTO TEMP t FROM contacts_contact", "INTO"),
    ("for-update", "SELECT id FROM contacts_contact FOR UPDATE", "FOR UPDATE"),
    ("for-share-skip-locked", "SELECT id FROM contacts_contact FOR SHARE SKIP LOCKED", "FOR UPDATE"),
    (
        "cte-insert",
        "WITH x AS (INSERT INTO contacts_contact (email) VALUES ('a') RETURNING id) SELECT id FROM x",
        "INSERT",
    ),
    ("cte-update", "WITH x AS (UPDATE contacts_contact SET first_name = '' RETURNING id) SELECT id FROM x", "UPDATE"),
    ("two-statements", "SELECT 1; DROP TABLE contacts_contact", "one statement"),
    ("explain", "EXPLAIN ANALYZE SELECT 1", "starts with EXPLAIN"),
    ("copy", "COPY (SELECT 1) TO '/tmp/x'", "starts with COPY"),
    ("set-role", "SET ROLE postgres", "starts with SET"),
    ("do-block", "DO $$ BEGIN PERFORM 1; END $$", "starts with DO"),
    ("parameter", "SELECT id FROM contacts_contact WHERE id = $1", "Parameters"),
    ("xmltable", "SELECT 1 FROM XMLTABLE('/a' PASSING '<a/>' COLUMNS x int)", "RangeTableFunc"),
    ("tablesample", "SELECT id FROM contacts_contact TABLESAMPLE SYSTEM (50)", "RangeTableSample"),
    ("column-definition-list", "SELECT id FROM ROWS FROM (generate_series(1, 2)) AS t(id int)", "ColumnDef"),
    ("too-long", "SELECT id FROM contacts_contact WHERE " + " OR ".join(["id = 1"] * 4000), "at most"),
]


@pytest.mark.parametrize(("sql", "fragment"), [row[1:] for row in HOSTILE], ids=[row[0] for row in HOSTILE])
def test_hostile_query_is_refused_at_validation(sql: str, fragment: str) -> None:
    with pytest.raises(SqlSegmentError) as info:
        sql_clean(sql)
    assert fragment.lower() in str(info.value).lower()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM contacts_contact WHERE lower(email) LIKE '%@example.org' AND status = 'subscribed'",
        "SELECT c.id FROM contacts_contact c JOIN contacts_contactattribute a ON a.contact_id = c.id "
        "WHERE a.field_name = 'city' AND a.field_value->>0 = 'Oslo'",
        "WITH recent AS (SELECT contact_id FROM contacts_funnelevent WHERE created_at > now() - interval '30 days') "
        "SELECT contact_id FROM recent",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT i FROM n",
        "SELECT contact_id FROM contacts_batchmember WHERE batch_id IN (SELECT id FROM contacts_batch)",
        "SELECT contact_id FROM segments_segmentmember WHERE segment_id = 1",
        "SELECT id FROM contacts_contact WHERE date_trunc('day', created_at AT TIME ZONE 'UTC') = CURRENT_DATE",
        "SELECT id FROM contacts_contact WHERE coalesce(trim(first_name), '') <> '' ORDER BY id LIMIT 10",
        "SELECT id FROM contacts_contact WHERE extract(year FROM created_at) >= 2020 AND id::bigint > 0",
        "SELECT n FROM (SELECT pg_catalog.count(*)::bigint AS n FROM generate_series(1, 5)) g",
        "SELECT id FROM contacts_contact WHERE email SIMILAR TO '%(a|b)%' AND first_name = E'O\\'Brien'",
        "SELECT id FROM contacts_contact; ",
    ],
)
def test_plain_selects_over_contact_tables_pass_validation(sql: str) -> None:
    assert sql_clean(sql) == sql.strip().rstrip(";").rstrip()


def test_validation_keeps_the_users_text_without_a_trailing_comment() -> None:
    assert sql_clean("SELECT id FROM contacts_contact; -- the end") == "SELECT id FROM contacts_contact"


# --- the privilege layer, called as if validation had been bypassed ------------------------------------------


def _one(sql: str) -> Any:
    def work(cursor: Any) -> Any:
        cursor.execute(sql)
        return cursor.fetchone()

    return run_read_only(work)


def test_segment_queries_run_as_the_reader_role_read_only_with_the_timeout(settings: Any) -> None:
    settings.SEGMENT_SQL_TIMEOUT_MS = 1234
    row = _one("SELECT current_user, current_setting('transaction_read_only'), current_setting('statement_timeout')")
    assert row == (READER_ROLE, "on", "1234ms")


def test_reader_role_is_not_a_superuser_and_cannot_log_in() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcanlogin, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = %s", [READER_ROLE]
        )
        assert cursor.fetchone() == (False, False, False, False)


def test_role_blocks_reading_a_disallowed_table_and_the_message_has_no_data(admin_user: User) -> None:
    with pytest.raises(SqlSegmentError) as info:
        _one("SELECT password FROM auth_user")
    message = str(info.value)
    assert message.startswith("Permission denied")
    assert admin_user.password not in message and "pbkdf2" not in message


@pytest.mark.parametrize(
    "table",
    ["auth_user", "authtoken_token", "django_session", "auth_group", "delivery_outboxmessage", "django_admin_log"],
)
def test_role_may_read_only_the_contact_tables(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [READER_ROLE, table])
        assert cursor.fetchone() == (False,)
        for allowed in sorted(allowed_tables()):
            cursor.execute(
                "SELECT has_table_privilege(%s, %s, 'SELECT'), has_table_privilege(%s, %s, 'INSERT, UPDATE, DELETE')",
                [READER_ROLE, allowed, READER_ROLE, allowed],
            )
            assert cursor.fetchone() == (True, False), allowed


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO contacts_contact (email, first_name) VALUES ('x@example.org', 'x') RETURNING id",
        "UPDATE contacts_contact SET first_name = 'x' RETURNING id",
        "CREATE TEMP TABLE herald_x (id int)",
    ],
)
def test_role_and_read_only_block_writes(sql: str) -> None:
    make_contact(first_name="before")
    with pytest.raises(SqlSegmentError, match=r"tried to change data|Permission denied"):
        _one(sql)
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["before"]


def _large_objects() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_largeobject_metadata")
        return int(cursor.fetchone()[0])


def test_a_large_object_created_under_the_guard_is_rolled_back() -> None:
    """PostgreSQL lets any role create large objects, even in a read-only transaction: the guard always rolls back,
    so nothing it did survives it (and the parse layer refuses lo_* before that)."""
    before = _large_objects()
    assert _one("SELECT lo_from_bytea(0, 'x')")[0] > 0
    assert _large_objects() == before


def test_the_role_is_set_again_before_every_statement() -> None:
    """A statement that switches role back (set_config('role', ...) works for the session user) cannot hand the
    switch to the next statement of the same guard."""

    def work(cursor: Any) -> str:
        cursor.execute("SELECT set_config('role', session_user, true)")
        cursor.execute("SELECT current_user")
        return str(cursor.fetchone()[0])

    assert run_read_only(work) == READER_ROLE


def test_after_the_guard_the_connection_is_back_to_the_app_user() -> None:
    _one("SELECT 1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user = session_user, current_setting('transaction_read_only')")
        assert cursor.fetchone() == (True, "off")


def test_a_failed_cast_reports_its_class_and_position_not_the_value(admin_user: User) -> None:
    make_contact(first_name="SECRET-VALUE-42")
    with pytest.raises(SqlSegmentError) as info:
        sql_check("SELECT id FROM contacts_contact WHERE first_name::int > 0")
    assert "InvalidTextRepresentation" in str(info.value)
    assert "SECRET" not in str(info.value)


def test_a_constant_cast_error_gives_the_position_in_the_users_text() -> None:
    sql = "SELECT id FROM contacts_contact WHERE id = 'SECRET'::int"
    with pytest.raises(SqlSegmentError) as info:
        sql_check(sql)
    position = sql.index("'SECRET'") + 1
    assert str(info.value).startswith(f"The query failed: InvalidTextRepresentation at position {position}")
    assert "SECRET" not in str(info.value)


def test_a_cast_error_while_counting_a_saved_segment_shows_no_data(admin_user: User) -> None:
    segment = services.segment_create(
        user=admin_user, name="s", type=Segment.Type.SQL, selection_sql="SELECT id FROM contacts_contact"
    )
    make_contact(first_name="SECRET-VALUE-43")
    Segment.objects.filter(pk=segment.pk).update(
        selection_sql="SELECT id FROM contacts_contact WHERE first_name::int > 0"
    )
    segment.refresh_from_db()
    for read in (segment_count, segment_sample, segment_contact_ids):
        with pytest.raises(SqlSegmentError) as info:
            read(segment=segment)  # type: ignore[operator]
        assert "InvalidTextRepresentation" in str(info.value) and "SECRET" not in str(info.value)


def test_without_the_role_sql_segments_are_disabled_with_the_statements_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment_sql, "READER_ROLE", "herald_no_such_role")
    with pytest.raises(SqlSegmentError) as info:
        sql_check("SELECT id FROM contacts_contact")
    message = str(info.value)
    assert message.startswith("SQL segments are disabled: the database role herald_no_such_role")
    assert "CREATE ROLE herald_no_such_role NOLOGIN; GRANT USAGE ON SCHEMA public TO herald_no_such_role; " in message
    assert "GRANT herald_no_such_role TO postgres;" in message


# --- the send snapshot -----------------------------------------------------------------------------------------


@pytest.fixture
def no_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the parse layer had been bypassed: the text is run as it is (the guard still applies)."""
    monkeypatch.setattr(segment_sql, "_pg_clean", lambda text: text.rstrip(";"))


def _sql_segment(admin_user: User, sql: str) -> Segment:
    """An SQL segment whose text skipped validation on save (written straight to the table)."""
    segment = services.segment_create(
        user=admin_user, name="s", type=Segment.Type.SQL, selection_sql="SELECT id FROM contacts_contact"
    )
    Segment.objects.filter(pk=segment.pk).update(selection_sql=sql)
    segment.refresh_from_db()
    return segment


def test_snapshot_materialises_the_ids_as_the_reader_role_before_it_writes(
    admin_user: User, no_validation: None
) -> None:
    contacts = [make_contact(), make_contact()]
    segment = _sql_segment(
        admin_user,
        "SELECT id FROM contacts_contact WHERE current_user = 'herald_segment_reader' "
        "AND current_setting('transaction_read_only') = 'on'",
    )
    send = send_create(label="t", subject="s", body_text="b")
    assert send_start(send_id=send.pk, audience=segment_contact_ids(segment=segment)) == 2
    assert set(Delivery.objects.filter(send=send).values_list("contact_id", flat=True)) == {c.pk for c in contacts}


def test_snapshot_audience_does_not_embed_the_users_text(admin_user: User) -> None:
    """The send engine's INSERT ... SELECT reads a list of ids, never the user's query."""
    segment = _sql_segment(admin_user, "SELECT id FROM contacts_contact WHERE first_name <> 'marker-text'")
    sql, _params = segment_contact_ids(segment=segment).query.sql_with_params()
    assert "marker-text" not in sql and "unnest" in sql


@pytest.mark.parametrize(
    "condition",
    [
        "CASE WHEN current_setting('transaction_read_only') = 'off' THEN lo_from_bytea(0, 'x') > 0 ELSE true END",
        "lo_from_bytea(0, 'x') > 0",
    ],
    ids=["guarded-on-read-only", "unguarded"],
)
def test_snapshot_never_keeps_a_write_of_the_segment_query(
    admin_user: User, no_validation: None, condition: str
) -> None:
    """The issue's committed write: a large object created while the snapshot ran the segment."""
    make_contact()
    segment = _sql_segment(admin_user, f"SELECT id FROM contacts_contact WHERE {condition}")
    before = _large_objects()
    send = send_create(label="t", subject="s", body_text="b")
    assert send_start(send_id=send.pk, audience=segment_contact_ids(segment=segment)) == 1
    assert _large_objects() == before


def test_snapshot_of_a_segment_reading_a_disallowed_table_fails_before_writing(
    admin_user: User, no_validation: None
) -> None:
    make_contact()
    segment = _sql_segment(admin_user, "SELECT user_id FROM django_admin_log UNION SELECT id FROM contacts_contact")
    with pytest.raises(SqlSegmentError, match="Permission denied"):
        segment_contact_ids(segment=segment)
    assert not Delivery.objects.exists()


# --- the migration ---------------------------------------------------------------------------------------------


def _migration() -> Any:
    from importlib import import_module

    return import_module("segments.migrations.0002_segment_reader_role")


def test_role_migration_runs_again_without_error() -> None:
    editor = SimpleNamespace(connection=connection)
    _migration().create_reader_role(django_apps, editor)
    _migration().create_reader_role(django_apps, editor)
    assert _one("SELECT count(*) FROM contacts_contact") == (0,)


def test_role_migration_skips_when_the_user_may_not_create_roles() -> None:
    executed: list[str] = []

    class Cursor:
        def __enter__(self) -> Cursor:
            return self

        def __exit__(self, *args: object) -> None:
            return None

        def execute(self, sql: str, params: object = None) -> None:
            executed.append(sql)

        def fetchone(self) -> tuple[bool]:
            return (False,)

    editor = SimpleNamespace(connection=SimpleNamespace(vendor="postgresql", cursor=Cursor))
    _migration().create_reader_role(django_apps, editor)
    assert len(executed) == 1 and "rolcreaterole" in executed[0]


def test_readme_gives_the_dba_the_same_statements_as_the_message() -> None:
    from pathlib import Path

    from django.conf import settings

    assert segment_sql.setup_sql() in (Path(settings.BASE_DIR) / "README.md").read_text()
