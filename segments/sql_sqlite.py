"""Layer 3 of SQL segments on the embedded SQLite database (see `segments.sql`): an authorizer callback, `PRAGMA
query_only` and a progress-handler timeout play the part of the PostgreSQL reader role.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, transaction

from segments.errors import SqlSegmentError
from segments.sql_common import T, _Rollback, allowed_tables, timeout_ms

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
