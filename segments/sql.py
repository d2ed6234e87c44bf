"""SQL segments: a user's SELECT of contact ids, enforced by privilege, not by a deny-list (ARCHITECTURE §7).

Defence in layers, because the query is typed by a person:
1. Only Admins may write one (enforced in `segments.services`).
2. PostgreSQL's own parser (`pglast`, libpg_query) reads the text. It must be exactly one plain SELECT: no
   data-modifying CTE, no SELECT INTO, no FOR UPDATE, no parameters. Every node of the tree must be of a kind on
   `ALLOWED_NODES`; every relation one of the contact-side tables (`allowed_tables()`), every function on
   `ALLOWED_FUNCTIONS`, every type on `ALLOWED_TYPES`; system columns and schema-qualified names outside
   `pg_catalog` functions are refused. The checks read the parser's *resolved* names, so `U&"auth\\005fuser"`
   and `E'\\''` strings mean to them what they mean to the server.
3. Everywhere it runs (save-time check, count, preview, member pages and the send snapshot) it runs inside
   `run_read_only`: a READ ONLY transaction or savepoint with `statement_timeout`, as the role `READER_ROLE`
   (NOLOGIN, not a superuser, SELECT on the allowed tables only: migration 0002), and rolled back afterwards.
   The role is set again before every statement, so a statement cannot hand the next one a different role.
   On the embedded SQLite database an authorizer callback plays the role: it allows reads of the allowed tables,
   the functions on `SQLITE_ALLOWED_FUNCTIONS`, and nothing else.
4. The send engine never embeds the text in its own `INSERT ... SELECT`: `materialised_ids_sql` runs it under
   layer 3 first and hands the engine the resulting ids (`segments.selectors.segment_contact_ids`).
5. Errors never echo data: a failure is reported by its class and position in the query, not by the server's
   message (a failed cast's message quotes the value). Only parse-analysis errors about the query's own text
   (an unknown column, a syntax error) are shown as the server words them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from segments.errors import SqlSegmentError
from segments.sql_common import T as T
from segments.sql_common import _Rollback as _Rollback
from segments.sql_common import allowed_tables as allowed_tables
from segments.sql_common import timeout_ms as timeout_ms
from segments.sql_parse import _STATEMENT_KEYWORDS as _STATEMENT_KEYWORDS
from segments.sql_parse import ALLOWED_FUNCTIONS as ALLOWED_FUNCTIONS
from segments.sql_parse import ALLOWED_NODES as ALLOWED_NODES
from segments.sql_parse import ALLOWED_SQL_VALUE_FUNCTIONS as ALLOWED_SQL_VALUE_FUNCTIONS
from segments.sql_parse import ALLOWED_TYPES as ALLOWED_TYPES
from segments.sql_parse import SYSTEM_COLUMNS as SYSTEM_COLUMNS
from segments.sql_parse import _Checker as _Checker
from segments.sql_parse import _first_word as _first_word
from segments.sql_parse import _names as _names
from segments.sql_parse import _pg_clean as _pg_clean
from segments.sql_sqlite import _SQLITE_READ_ACTIONS as _SQLITE_READ_ACTIONS
from segments.sql_sqlite import _SQLITE_RECURSIVE as _SQLITE_RECURSIVE
from segments.sql_sqlite import SQLITE_ALLOWED_FUNCTIONS as SQLITE_ALLOWED_FUNCTIONS
from segments.sql_sqlite import SQLITE_PROGRESS_STEPS as SQLITE_PROGRESS_STEPS
from segments.sql_sqlite import _run_read_only_sqlite as _run_read_only_sqlite
from segments.sql_sqlite import _sqlite_authorizer as _sqlite_authorizer
from segments.sql_sqlite import _sqlite_message as _sqlite_message
from segments.sql_sqlite import _SqliteDenied as _SqliteDenied

# The modules: segments.sql_common (allowed_tables, timeout_ms), segments.sql_parse (layer 2: pglast and the
# allow-lists), segments.sql_sqlite (layer 3 on SQLite: the authorizer). This module keeps the PostgreSQL guard
# (layer 3), the entry points, and every name above, so `segments.sql.X` goes on working. READER_ROLE and
# `_pg_clean` are read from here at call time (tests monkeypatch them on this module).

# The PostgreSQL role SQL segments run as: created NOLOGIN with SELECT on `allowed_tables()` by migration 0002.
READER_ROLE = "herald_segment_reader"

# Integer type OIDs (int8, int4, int2): the only column types accepted as contact ids.
INTEGER_OIDS = {20, 23, 21}

# A segment is a query someone reads and maintains; anything longer is not one.
MAX_SQL_LENGTH = 20_000


def setup_sql(*, app_user: str = "herald", schema: str = "public") -> str:
    """The statements a DBA runs once when Herald's database user may not create roles (README)."""
    tables = ", ".join(sorted(allowed_tables()))
    return (
        f"CREATE ROLE {READER_ROLE} NOLOGIN; "
        f"GRANT USAGE ON SCHEMA {schema} TO {READER_ROLE}; "
        f"GRANT SELECT ON {tables} TO {READER_ROLE}; "
        f"GRANT {READER_ROLE} TO {app_user};"
    )


def sql_clean(sql: str, *, vendor: str = "postgresql") -> str:
    """The one statement without surrounding blanks or a trailing ';'. Raises SqlSegmentError when refused.

    On SQLite (embedded mode) the text is SQLite's dialect, which PostgreSQL's parser does not read; there the
    authorizer in `run_read_only` is the check, on the names SQLite itself resolved.
    """
    text = (sql or "").strip()
    if not text:
        raise SqlSegmentError("Write a SELECT that returns contact ids, e.g. SELECT id FROM contacts_contact.")
    if len(text) > MAX_SQL_LENGTH:
        raise SqlSegmentError(f"A segment query is at most {MAX_SQL_LENGTH:,} characters.")
    if vendor == "sqlite":
        return text.rstrip(";").rstrip()
    return _pg_clean(text)


def wrapped_ids_sql(sql: str, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """The statement as a subquery whose first (and only) column is named contact_id; '%' escaped for params.

    Only for use inside `run_read_only`: anything else gets the ids from `materialised_ids_sql`.
    SQLite has no column list on a derived table (`AS herald_q(contact_id)`); a CTE's column list does the same.
    """
    vendor = connections[using].vendor
    body = sql_clean(sql, vendor=vendor).replace("%", "%%")
    if vendor == "sqlite":
        return f"WITH herald_q(contact_id) AS ({body}\n) SELECT herald_q.contact_id FROM herald_q"
    return f"SELECT herald_q.contact_id FROM ({body}\n) AS herald_q(contact_id)"


# --- layer 3: run as the reader role, read-only, with a timeout ------------------------------------------------


@dataclass
class _Statements:
    """The statements run inside the guard, so an error position can be mapped back to the user's text."""

    executed: list[tuple[str, Any]] = field(default_factory=list)


def _user_position(position: int | None, clean: str | None, statements: _Statements) -> int | None:
    """The server's 1-based position in the statement it ran, as a position in the segment's own text."""
    if not position or not clean or not statements.executed:
        return None
    sql, params = statements.executed[-1]
    escaped = clean.replace("%", "%%") if params is not None else clean
    start = sql.find(escaped)
    if start < 0 or (params is not None and "%" in sql[:start]):
        return None
    offset = position - start
    return offset if 1 <= offset <= len(clean) else None


# Parse-analysis errors about the query's own text: the server raises them before reading any row, so their
# message names identifiers and types the user wrote, never data. Shown only when they carry a position.
_TEXT_ERRORS = {"42601", "42703", "42P01", "42883", "42702", "42803", "42804", "42P10", "42725", "42809", "42611"}


def _message(exc: DatabaseError, *, clean: str | None = None, statements: _Statements | None = None) -> str:
    cause: Any = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", "") or ""
    diag = getattr(cause, "diag", None)
    raw_position = getattr(diag, "statement_position", None)
    position = _user_position(int(raw_position) if raw_position else None, clean, statements or _Statements())
    at = f" at position {position}" if position else ""
    if sqlstate == "57014":
        return f"The query ran longer than {timeout_ms() / 1000:g} s and was stopped; make it faster or narrower."
    if sqlstate == "25006":
        return "The query tried to change data; a segment is one read-only SELECT of contact ids."
    if sqlstate == "42501":
        return (
            "Permission denied: a segment may only read "
            f"{', '.join(sorted(allowed_tables()))} and call harmless functions."
        )
    if sqlstate in _TEXT_ERRORS and raw_position:
        primary = (getattr(diag, "message_primary", None) or "").strip().splitlines()[:1] or ["?"]
        prefix = "SQL syntax error" if sqlstate == "42601" else "The query is not valid"
        return f"{prefix}: {primary[0]}{at}."
    name = type(cause).__name__ if cause is not None and type(cause).__module__.startswith("psycopg") else ""
    label = name if name and name not in ("Error", "DatabaseError") else f"SQLSTATE {sqlstate or '?'}"
    hint = " (a value could not be converted or computed; values are not shown)" if sqlstate[:2] == "22" else ""
    return f"The query failed: {label}{at}{hint}."


def _disabled(cursor: Any) -> str | None:
    """Why SQL segments cannot run on this database (None when the reader role is ready)."""
    cursor.execute(
        "SELECT current_user, current_schema(), r.oid IS NOT NULL, r.rolsuper OR r.rolbypassrls, "
        "pg_has_role(current_user, r.oid, 'MEMBER'), has_table_privilege(r.oid, %s, 'SELECT') "
        "FROM (SELECT 1) AS one LEFT JOIN pg_roles r ON r.rolname = %s",
        [sorted(allowed_tables())[0], READER_ROLE],
    )
    user, schema, exists, unsafe, member, can_read = cursor.fetchone()
    fix = setup_sql(app_user=user, schema=schema or "public")
    if not exists:
        problem = f"the database role {READER_ROLE} they run as does not exist"
    elif unsafe:
        return f"SQL segments are disabled: the role {READER_ROLE} is a superuser or bypasses row security."
    elif not member:
        problem = f"the database user {user} is not a member of {READER_ROLE}"
    elif not can_read:
        problem = f"{READER_ROLE} cannot read the contact tables"
    else:
        return None
    return f"SQL segments are disabled: {problem}. A database administrator must run once: {fix}"


@contextmanager
def _as_reader(connection: Any, statements: _Statements) -> Iterator[None]:
    """Before every statement, set the reader role again (a statement could have changed it for the next one
    with set_config('role', ...), were that function ever let through), and remember the statement."""

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        context["cursor"].cursor.execute(f"SET LOCAL ROLE {READER_ROLE}")
        statements.executed.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


def run_read_only(
    work: Callable[[Any], T],
    *,
    timeout: int | None = None,
    using: str = DEFAULT_DB_ALIAS,
    clean: str | None = None,
) -> T:
    """Run `work(cursor)` as the reader role in a READ ONLY transaction (or savepoint) with statement_timeout,
    then roll back.

    Rolling back (instead of committing) restores the role and the session settings and discards anything a
    sneaky statement managed to do. Database errors come back as SqlSegmentError with a message for the user
    that never quotes data; `clean` (the segment's text) lets the message give a position in it.
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        return _run_read_only_sqlite(work, timeout=timeout, using=using)
    statements = _Statements()
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            problem = _disabled(cursor)
            if problem:
                raise SqlSegmentError(problem)
            # jit: see segments.selectors._guarded. Strings: the text means what the parser read. search_path:
            # pg_temp last, so no temporary table can stand in for a contact table.
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true), set_config('jit', 'off', true), "
                "set_config('standard_conforming_strings', 'on', true), set_config('search_path', "
                "'pg_catalog, ' || quote_ident(coalesce(current_schema(), 'public')) || ', pg_temp', true)",
                [str(int(timeout or timeout_ms()))],
            )
            with _as_reader(connection, statements):
                raise _Rollback(work(cursor))
    except _Rollback as done:
        return done.result  # type: ignore[no-any-return]
    except DatabaseError as exc:
        raise SqlSegmentError(_message(exc, clean=clean, statements=statements)) from exc


# --- the entry points -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlCheck:
    sql: str
    column: str
    count: int


def sql_check(sql: str, *, using: str = DEFAULT_DB_ALIAS) -> SqlCheck:
    """Validate a segment query by running it read-only: one integer column, and how many rows it returns."""
    vendor = connections[using].vendor
    clean = sql_clean(sql, vendor=vendor)

    def work(cursor: Any) -> SqlCheck:
        cursor.execute(f"SELECT * FROM ({clean}\n) AS herald_q LIMIT 0")
        columns = cursor.description or []
        if len(columns) != 1:
            names = ", ".join(c[0] for c in columns)
            raise SqlSegmentError(
                f"The query must return exactly one column, the contact id; it returns {len(columns)} ({names})."
            )
        if vendor == "sqlite":
            # SQLite types values, not columns (description has no type): every non-NULL id must be an integer.
            cursor.execute(
                f"WITH herald_q(contact_id) AS ({clean}\n) SELECT count(*), "
                "coalesce(sum(typeof(contact_id) NOT IN ('integer', 'null')), 0) FROM herald_q"
            )
            count, not_integer = cursor.fetchone()
            if not_integer:
                raise SqlSegmentError(
                    f"The column {columns[0][0]!r} is not an integer contact id; select contacts_contact.id "
                    "(or a contact_id column)."
                )
            return SqlCheck(sql=clean, column=columns[0][0], count=int(count))
        if columns[0].type_code not in INTEGER_OIDS:
            raise SqlSegmentError(
                f"The column {columns[0].name!r} is not an integer contact id; select contacts_contact.id "
                "(or a contact_id column)."
            )
        cursor.execute(f"SELECT count(*) FROM ({clean}\n) AS herald_q")
        return SqlCheck(sql=clean, column=columns[0].name, count=int(cursor.fetchone()[0]))

    return run_read_only(work, using=using, clean=clean)


def materialised_ids_sql(sql: str, *, using: str = DEFAULT_DB_ALIAS) -> tuple[str, list[str]]:
    """Run the segment under `run_read_only` and return its ids as (a subquery over a literal, its params).

    The send snapshot's `INSERT ... SELECT` cannot be read-only or run as the reader role, so it never sees the
    user's text: it reads this list. One text value (~8 bytes an id) instead of a Python int per id keeps a
    million ids at a few MB.
    """
    vendor = connections[using].vendor
    wrapped = wrapped_ids_sql(sql, using=using)
    clean = sql_clean(sql, vendor=vendor)
    if vendor == "sqlite":
        query = (
            f"SELECT coalesce(json_group_array(contact_id), '[]') FROM ({wrapped}) "
            "WHERE contact_id IS NOT NULL AND typeof(contact_id) = 'integer'"
        )
        subquery = "SELECT value FROM json_each(%s)"
    else:
        query = (
            "SELECT coalesce(array_agg(herald_ids.contact_id::bigint) "
            f"FILTER (WHERE herald_ids.contact_id IS NOT NULL), '{{}}')::text FROM ({wrapped}) AS herald_ids"
        )
        subquery = "SELECT unnest(%s::bigint[])"

    def work(cursor: Any) -> str:
        cursor.execute(query, [])
        return str(cursor.fetchone()[0])

    return subquery, [run_read_only(work, using=using, clean=clean)]
