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

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from pglast import ast, parse_sql
from pglast.enums import SQLValueFunctionOp
from pglast.parser import ParseError

from segments.errors import SqlSegmentError

T = TypeVar("T")

# The PostgreSQL role SQL segments run as: created NOLOGIN with SELECT on `allowed_tables()` by migration 0002.
READER_ROLE = "herald_segment_reader"

# Integer type OIDs (int8, int4, int2): the only column types accepted as contact ids.
INTEGER_OIDS = {20, 23, 21}

# A segment is a query someone reads and maintains; anything longer is not one.
MAX_SQL_LENGTH = 20_000

# Harmless functions: no file, network, session, setting, lock, large-object or catalog access, and none that runs
# SQL given as a string. Names as the parser resolves them (`TRIM(x)` is btrim, `x AT TIME ZONE z` is timezone).
ALLOWED_FUNCTIONS = frozenset(
    {
        # aggregates
        "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "array_agg", "string_agg",
        "jsonb_agg", "json_agg", "stddev", "variance", "percentile_cont", "percentile_disc", "mode",
        # window functions
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
        "first_value", "last_value", "nth_value",
        # text
        "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length", "trim",
        "btrim", "ltrim", "rtrim", "substring", "substr", "replace", "position", "strpos", "left", "right",
        "concat", "concat_ws", "split_part", "lpad", "rpad", "reverse", "starts_with", "translate", "md5",
        "regexp_replace", "regexp_match", "regexp_matches", "regexp_like", "similar_to_escape", "like_escape",
        "to_char", "to_number", "format", "normalize",
        # numbers
        "abs", "ceil", "ceiling", "floor", "round", "trunc", "mod", "power", "sqrt", "sign", "div", "random",
        "width_bucket",
        # dates and times
        "now", "date_trunc", "date_part", "extract", "age", "make_date", "make_time", "make_timestamp",
        "make_timestamptz", "make_interval", "to_date", "to_timestamp", "clock_timestamp", "statement_timestamp",
        "transaction_timestamp", "timezone", "justify_days", "justify_hours", "justify_interval", "isfinite",
        "date_bin", "overlaps",
        # json
        "jsonb_typeof", "json_typeof", "jsonb_array_length", "json_array_length", "jsonb_extract_path",
        "jsonb_extract_path_text", "json_extract_path", "json_extract_path_text", "jsonb_array_elements",
        "jsonb_array_elements_text", "json_array_elements", "json_array_elements_text", "jsonb_each",
        "jsonb_each_text", "json_each", "json_each_text", "jsonb_object_keys", "json_object_keys", "to_jsonb",
        "to_json", "jsonb_build_object", "jsonb_build_array", "json_build_object", "json_build_array",
        "jsonb_path_exists", "jsonb_path_match", "jsonb_strip_nulls",
        # arrays and sets
        "unnest", "array_length", "array_lower", "array_upper", "cardinality", "array_position",
        "array_positions", "array_to_string", "string_to_array", "array_remove", "array_append", "array_prepend",
        "array_cat", "generate_series",
        # conditionals and misc
        "num_nulls", "num_nonnulls",
    }
)  # fmt: skip

# Types a value may be cast to. Not the reg* types: their input functions look names up in the catalogs.
ALLOWED_TYPES = frozenset(
    {
        "int2", "int4", "int8", "smallint", "integer", "int", "bigint", "numeric", "decimal", "float4",
        "float8", "real", "text", "varchar", "bpchar", "char", "bool", "boolean", "date", "time", "timetz",
        "timestamp", "timestamptz", "interval", "json", "jsonb", "uuid",
    }
)  # fmt: skip

# CURRENT_DATE, LOCALTIMESTAMP and friends; not CURRENT_USER, SESSION_USER, CURRENT_SCHEMA, CURRENT_CATALOG.
ALLOWED_SQL_VALUE_FUNCTIONS = frozenset(
    {
        SQLValueFunctionOp.SVFOP_CURRENT_DATE,
        SQLValueFunctionOp.SVFOP_CURRENT_TIME,
        SQLValueFunctionOp.SVFOP_CURRENT_TIME_N,
        SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP,
        SQLValueFunctionOp.SVFOP_CURRENT_TIMESTAMP_N,
        SQLValueFunctionOp.SVFOP_LOCALTIME,
        SQLValueFunctionOp.SVFOP_LOCALTIME_N,
        SQLValueFunctionOp.SVFOP_LOCALTIMESTAMP,
        SQLValueFunctionOp.SVFOP_LOCALTIMESTAMP_N,
    }
)

SYSTEM_COLUMNS = frozenset({"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid", "oid"})

# Every kind of parse-tree node a segment may contain. Anything else (XMLTABLE, TABLESAMPLE, $1 parameters,
# column definition lists, XML expressions, SQL/JSON constructors ...) is refused by default.
ALLOWED_NODES = frozenset(
    {
        ast.RawStmt, ast.SelectStmt, ast.ResTarget, ast.ColumnRef, ast.A_Star, ast.A_Const, ast.Integer,
        ast.Float, ast.String, ast.Boolean, ast.BitString, ast.A_Expr, ast.BoolExpr, ast.NullTest,
        ast.BooleanTest, ast.FuncCall, ast.TypeCast, ast.TypeName, ast.RangeVar, ast.Alias, ast.JoinExpr,
        ast.RangeSubselect, ast.RangeFunction, ast.SubLink, ast.CaseExpr, ast.CaseWhen, ast.CoalesceExpr,
        ast.MinMaxExpr, ast.SortBy, ast.WithClause, ast.CommonTableExpr, ast.A_ArrayExpr, ast.A_Indirection,
        ast.A_Indices, ast.WindowDef, ast.RowExpr, ast.SQLValueFunction, ast.GroupingSet, ast.CollateClause,
    }
)  # fmt: skip

_STATEMENT_KEYWORDS = {
    ast.InsertStmt: "INSERT",
    ast.UpdateStmt: "UPDATE",
    ast.DeleteStmt: "DELETE",
    ast.MergeStmt: "MERGE",
}

# SQLite (embedded mode): the functions the authorizer lets a segment query call.
SQLITE_ALLOWED_FUNCTIONS = frozenset(
    {
        "count", "sum", "total", "avg", "min", "max", "group_concat", "json_group_array", "lower", "upper",
        "length", "trim", "ltrim", "rtrim", "substr", "substring", "replace", "instr", "abs", "round", "coalesce",
        "ifnull", "nullif", "iif", "like", "glob", "typeof", "date", "time", "datetime", "julianday",
        "strftime", "unixepoch", "json_extract", "json_type", "json_array_length", "json_valid",
        "printf", "format", "random", "row_number", "rank", "dense_rank", "lag", "lead", "cast",
    }
)  # fmt: skip

# The SQLite authorizer's action code for WITH RECURSIVE (the module has no constant for it).
_SQLITE_RECURSIVE = 33


@lru_cache(maxsize=1)
def allowed_tables() -> frozenset[str]:
    """The contact-side tables a segment may read (the same list migration 0002 grants SELECT on)."""
    from contacts.models import Batch, BatchMember, Contact, ContactAttribute, FunnelEvent
    from segments.models import SegmentMember

    return frozenset(
        m._meta.db_table for m in (Contact, ContactAttribute, FunnelEvent, Batch, BatchMember, SegmentMember)
    )


def timeout_ms() -> int:
    return int(settings.SEGMENT_SQL_TIMEOUT_MS)


def setup_sql(*, app_user: str = "herald", schema: str = "public") -> str:
    """The statements a DBA runs once when Herald's database user may not create roles (README)."""
    tables = ", ".join(sorted(allowed_tables()))
    return (
        f"CREATE ROLE {READER_ROLE} NOLOGIN; "
        f"GRANT USAGE ON SCHEMA {schema} TO {READER_ROLE}; "
        f"GRANT SELECT ON {tables} TO {READER_ROLE}; "
        f"GRANT {READER_ROLE} TO {app_user};"
    )


# --- layer 2: PostgreSQL's parser ------------------------------------------------------------------------------


def _names(nodes: Iterable[Any] | None) -> list[str]:
    return [n.sval or "" for n in nodes or () if isinstance(n, ast.String)]


def _first_word(text: str, location: int | None) -> str:
    start = len(text.encode()[: location or 0].decode(errors="ignore"))
    words = text[start:].split()
    return words[0].upper() if words else "?"


class _Checker:
    """Walks the parse tree with the CTE names in scope, refusing anything not explicitly allowed."""

    def __init__(self, tables: frozenset[str]) -> None:
        self.tables = tables

    def check(self, node: Any, scope: frozenset[str]) -> None:
        if isinstance(node, tuple):
            for item in node:
                self.check(item, scope)
            return
        if not isinstance(node, ast.Node):
            return  # enums, ints, strings, None
        kind = type(node)
        if kind in _STATEMENT_KEYWORDS:
            keyword = _STATEMENT_KEYWORDS[kind]
            raise SqlSegmentError(f"{keyword} is not allowed: a segment is one read-only SELECT of contact ids.")
        if kind is ast.IntoClause:
            raise SqlSegmentError("SELECT ... INTO is not allowed: a segment is one read-only SELECT of contact ids.")
        if kind is ast.LockingClause:
            raise SqlSegmentError("FOR UPDATE / FOR SHARE is not allowed: a segment only reads.")
        if kind is ast.ParamRef:
            raise SqlSegmentError("Parameters ($1) are not allowed in a segment query.")
        if kind not in ALLOWED_NODES:
            raise SqlSegmentError(f"{kind.__name__} is not allowed in a segment query.")
        if isinstance(node, ast.SelectStmt):
            self._select(node, scope)
            return
        if isinstance(node, ast.RangeVar):
            self._relation(node, scope)
        elif isinstance(node, ast.ColumnRef):
            self._column(node)
        elif isinstance(node, ast.FuncCall):
            self._function(_names(node.funcname))
        elif isinstance(node, ast.TypeName):
            self._type(node)
        elif isinstance(node, (ast.A_Expr, ast.SortBy)):
            operator = _names(node.name if isinstance(node, ast.A_Expr) else node.useOp)
            if len(operator) > 1 and operator[0] != "pg_catalog":
                raise SqlSegmentError(f"The operator {'.'.join(operator)} is not allowed in a segment query.")
        elif isinstance(node, ast.SQLValueFunction) and node.op not in ALLOWED_SQL_VALUE_FUNCTIONS:
            raise SqlSegmentError(
                f"{getattr(node.op, 'name', '?').removeprefix('SVFOP_')} is not allowed in a segment query."
            )
        for name in node:
            self.check(getattr(node, name), scope)

    def _select(self, node: ast.SelectStmt, scope: frozenset[str]) -> None:
        if node.intoClause is not None:
            raise SqlSegmentError("SELECT ... INTO is not allowed: a segment is one read-only SELECT of contact ids.")
        inner = scope
        if node.withClause is not None:
            ctes = [cte for cte in node.withClause.ctes or () if isinstance(cte, ast.CommonTableExpr)]
            names = [cte.ctename or "" for cte in ctes]
            for i, cte in enumerate(ctes):
                if type(cte.ctequery) in _STATEMENT_KEYWORDS:
                    self.check(cte.ctequery, scope)  # raises, naming the statement
                if not isinstance(cte.ctequery, ast.SelectStmt):
                    raise SqlSegmentError("A WITH query must be a SELECT.")
                # Without RECURSIVE a CTE sees only the ones before it: `WITH auth_user AS (SELECT * FROM
                # auth_user)` reads the real table inside, so its name must not be in scope there.
                visible = names if node.withClause.recursive else names[:i]
                for name in cte:
                    if name != "ctename":
                        self.check(getattr(cte, name), scope | frozenset(visible))
            inner = scope | frozenset(names)
        for name in node:
            if name != "withClause":
                self.check(getattr(node, name), inner)

    def _relation(self, node: ast.RangeVar, scope: frozenset[str]) -> None:
        qualified = ".".join(n for n in (node.catalogname, node.schemaname, node.relname) if n)
        if node.catalogname or (node.schemaname and node.schemaname != "public"):
            raise SqlSegmentError(f"The table {qualified} is not readable from a segment query.")
        if node.schemaname is None and node.relname in scope:
            return  # a WITH query of this statement
        if node.relname not in self.tables:
            allowed = ", ".join(sorted(self.tables))
            raise SqlSegmentError(
                f"The table {qualified} is not readable from a segment query; a segment may read {allowed}."
            )

    def _column(self, node: ast.ColumnRef) -> None:
        parts = _names(node.fields)
        if len(node.fields or ()) > 2:
            raise SqlSegmentError(f"Write {'.'.join(parts[-2:])} instead of a schema-qualified column name.")
        if parts and parts[-1] in SYSTEM_COLUMNS:
            raise SqlSegmentError(f"The system column {parts[-1]} is not readable from a segment query.")

    def _function(self, parts: list[str]) -> None:
        shown = ".".join(parts)
        if len(parts) > 2 or (len(parts) == 2 and parts[0] != "pg_catalog") or parts[-1] not in ALLOWED_FUNCTIONS:
            raise SqlSegmentError(f"The function {shown} is not allowed in a segment query.")

    def _type(self, node: ast.TypeName) -> None:
        parts = _names(node.names)
        if node.setof or node.pct_type or not parts or len(parts) > 2:
            raise SqlSegmentError("This type name is not allowed in a segment query.")
        if (len(parts) == 2 and parts[0] != "pg_catalog") or parts[-1] not in ALLOWED_TYPES:
            raise SqlSegmentError(f"The type {'.'.join(parts)} is not allowed in a segment query.")


def _pg_clean(text: str) -> str:
    try:
        statements = parse_sql(text)
    except ParseError as exc:
        message = str(exc.args[0]) if exc.args else "syntax error"
        location = exc.args[1] if len(exc.args) > 1 else None
        where = f" at position {location}" if location else ""
        raise SqlSegmentError(f"SQL syntax error: {message}{where}.") from None
    if len(statements) > 1:
        raise SqlSegmentError("Only one statement is allowed; remove the second statement after ';'.")
    if not statements:
        raise SqlSegmentError("Write a SELECT that returns contact ids, e.g. SELECT id FROM contacts_contact.")
    raw = statements[0]
    if not isinstance(raw.stmt, ast.SelectStmt):
        raise SqlSegmentError(
            "Only a read-only SELECT (or WITH ... SELECT) is allowed; "
            f"this statement starts with {_first_word(text, raw.stmt_location)}."
        )
    _Checker(allowed_tables()).check(raw, frozenset())
    # The statement's own text (libpg_query counts bytes), without the trailing ';' or anything after it.
    data = text.encode()
    start, length = raw.stmt_location or 0, raw.stmt_len or len(data)
    return data[start : start + length].decode().strip()


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


class _Rollback(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result


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


# SQLite calls the progress handler every this many virtual-machine instructions (about a millisecond's work).
SQLITE_PROGRESS_STEPS = 10_000


# SQLite's authorizer actions that change something (every action but reading, functions and WITH RECURSIVE).
_SQLITE_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, _SQLITE_RECURSIVE}


@dataclass
class _SqliteDenied:
    """What the authorizer refused first, for the message."""

    action: int | None = None
    name: str = ""


def _sqlite_authorizer(
    tables: frozenset[str], real_tables: frozenset[str], denied: _SqliteDenied
) -> Callable[[int, str | None, str | None, str | None, str | None], int]:
    """Reading is the only action allowed: SELECT, reads of the allowed tables (as SQLite resolved them, in the
    main database), allowed functions and WITH RECURSIVE. No pragma, attach, write, or other table.

    SQLite reports a column read with the database name ("main"); a read with no database name and no column is
    the table as a whole (`count(*)`) or a WITH query's own name, allowed unless it names a real table.
    """

    def authorize(action: int, arg1: str | None, arg2: str | None, db_name: str | None, _source: str | None) -> int:
        if action in (sqlite3.SQLITE_SELECT, _SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        name = (arg1 or "").lower()
        if action == sqlite3.SQLITE_READ:
            if db_name in ("main", None) and name in tables:
                return sqlite3.SQLITE_OK
            if db_name is None and not arg2 and name not in real_tables:
                return sqlite3.SQLITE_OK
        elif action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in SQLITE_ALLOWED_FUNCTIONS:
                return sqlite3.SQLITE_OK
        if denied.action is None:
            denied.action, denied.name = action, name
        return sqlite3.SQLITE_DENY

    return authorize


def _sqlite_message(exc: DatabaseError, timeout: int | None = None, denied: _SqliteDenied | None = None) -> str:
    text = (str(exc).strip().splitlines() or ["?"])[0]
    if text == "interrupted":
        return f"The query ran longer than {(timeout or timeout_ms()) / 1000:g} s and was stopped; make it faster or narrower."
    refused = denied if denied is not None and denied.action is not None else None
    if "readonly" in text or "read-only" in text or (refused and refused.action not in _SQLITE_READ_ACTIONS):
        return "The query tried to change data; a segment is one read-only SELECT of contact ids."
    if refused and refused.action == sqlite3.SQLITE_FUNCTION:
        return f"The function {refused.name} is not allowed in a segment query."
    if refused or text == "not authorized" or "prohibited" in text:
        name = f"The table {refused.name} is" if refused else "That table is"
        return f"{name} not readable from a segment query; a segment may read {', '.join(sorted(allowed_tables()))}."
    if "one statement at a time" in text:
        return "Only one statement is allowed; remove the second statement after ';'."
    if "syntax error" in text or text.startswith("incomplete input"):
        return f"SQL syntax error: {text}."
    if text.startswith(("no such", "ambiguous column")) or "wrong number of arguments" in text:
        return f"The query is not valid: {text}."
    return f"The query failed: {type(exc.__cause__ or exc).__name__}."


def _run_read_only_sqlite(work: Callable[[Any], T], *, timeout: int | None, using: str) -> T:
    """The embedded database's version: an authorizer allows only reads of the allowed tables, `PRAGMA
    query_only` refuses any write, a progress handler stops the statement (SQLite raises "interrupted") once the
    timeout has passed; all are undone afterwards.

    The pragma is a setting of the connection, not of the transaction. It is switched on inside the transaction
    (Herald opens SQLite transactions with BEGIN IMMEDIATE, which query_only would refuse) and back off before
    the rollback, unless it was already on. Setting an authorizer expires every prepared statement, so a cached
    statement cannot skip it.
    """
    deadline = time.monotonic() + int(timeout or timeout_ms()) / 1000
    denied = _SqliteDenied()
    try:
        connection = connections[using]
        with transaction.atomic(using=using), connection.cursor() as cursor:
            raw: Any = connection.connection
            cursor.execute("PRAGMA query_only")
            was_query_only = bool(cursor.fetchone()[0])
            cursor.execute("PRAGMA query_only = ON")
            cursor.execute("SELECT lower(name) FROM sqlite_master UNION SELECT lower(name) FROM sqlite_temp_master")
            real = frozenset(row[0] for row in cursor.fetchall()) | {"sqlite_master", "sqlite_schema"}
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), SQLITE_PROGRESS_STEPS)
            raw.set_authorizer(_sqlite_authorizer(allowed_tables(), real | {"sqlite_temp_master"}, denied))
            try:
                result = work(cursor)
            finally:
                raw.set_authorizer(None)
                raw.set_progress_handler(None, 0)
                if not was_query_only:
                    cursor.execute("PRAGMA query_only = OFF")
            raise _Rollback(result)
    except _Rollback as done:
        return done.result  # type: ignore[no-any-return]
    except DatabaseError as exc:
        raise SqlSegmentError(_sqlite_message(exc, timeout, denied)) from exc


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
