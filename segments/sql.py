"""SQL segments: a user's SELECT of contact ids, checked and run per ARCHITECTURE §7.

Defence in layers, because the query is typed by a person:
1. Only Admins may write one (enforced in `segments.services`).
2. The text must be ONE statement that starts with SELECT or WITH; statements are split by a scanner that knows
   quotes, dollar quotes and comments, so `'a;b'` is not two statements. Data-changing keywords and functions that
   reach files, other sessions or server settings are refused before anything runs.
3. On save it runs in a READ ONLY transaction with `statement_timeout`, so a data-modifying CTE or a slow query
   fails with a message. The result must be exactly one integer column (the contact id).
4. When it feeds a count, a member page or a preview it runs read-only under the same timeout again.

The send engine embeds `segment_contact_ids()` in its own `INSERT ... SELECT`, which cannot be read-only; layers
1-3 are what protect that path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from segments.errors import SqlSegmentError

T = TypeVar("T")

# Integer type OIDs (int8, int4, int2): the only column types accepted as contact ids.
INTEGER_OIDS = {20, 23, 21}

FORBIDDEN_KEYWORDS = {
    "insert",
    "update",
    "delete",
    "merge",
    "truncate",
    "drop",
    "alter",
    "create",
    "grant",
    "revoke",
    "copy",
    "call",
    "do",
    "vacuum",
    "analyze",
    "cluster",
    "reindex",
    "lock",
    "set",
    "reset",
    "listen",
    "notify",
    "unlisten",
    "prepare",
    "execute",
    "deallocate",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "release",
    "discard",
    "refresh",
    "comment",
    "security",
    "into",
}

# Functions that read files, touch other sessions, change settings or run SQL given as a string.
FORBIDDEN_FUNCTION = re.compile(
    r"^(pg_|lo_|dblink|set_config$|current_setting$|query_to_xml|cursor_to_xml|table_to_xml|schema_to_xml|"
    r"database_to_xml|query_to_json|txid_|xmlexists$|setval$|nextval$)",
    re.IGNORECASE,
)
FORBIDDEN_TABLES = {"auth_user", "authtoken_token", "django_session", "pg_authid", "pg_shadow", "pg_user_mapping"}

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def timeout_ms() -> int:
    return int(getattr(settings, "SEGMENT_SQL_TIMEOUT_MS", 5000))


@dataclass(frozen=True)
class _Scan:
    statements: list[str]
    words: list[str]


def _scan(sql: str) -> _Scan:
    """Split into statements and collect bare words, skipping literals, quoted identifiers and comments."""
    statements: list[str] = []
    words: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end
            current.append(" ")
            continue
        if ch == "/" and sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise SqlSegmentError("An unterminated /* comment.")
            i = j
            current.append(" ")
            continue
        if ch in ("'", '"'):
            j = i + 1
            while True:
                j = sql.find(ch, j)
                if j == -1:
                    raise SqlSegmentError(
                        "An unterminated quoted string or identifier."
                        if ch == "'"
                        else "An unterminated quoted identifier."
                    )
                if j + 1 < n and sql[j + 1] == ch:
                    j += 2
                    continue
                break
            current.append(sql[i : j + 1])
            if ch == '"':
                words.append(sql[i + 1 : j].replace('""', '"'))
            i = j + 1
            continue
        if ch == "$":
            match = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            if match:
                tag = match.group(0)
                end = sql.find(tag, i + len(tag))
                if end == -1:
                    raise SqlSegmentError("An unterminated dollar-quoted string.")
                current.append(sql[i : end + len(tag)])
                i = end + len(tag)
                continue
        if ch == ";":
            statements.append("".join(current))
            current = []
            i += 1
            continue
        match = _WORD.match(sql, i)
        if match and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] in "_$")):
            words.append(match.group(0))
            current.append(match.group(0))
            i = match.end()
            continue
        current.append(ch)
        i += 1
    statements.append("".join(current))
    return _Scan(statements=[s for s in statements if s.strip()], words=words)


def sql_clean(sql: str) -> str:
    """The statement without surrounding blanks or trailing semicolons. Raises SqlSegmentError when refused."""
    text = (sql or "").strip()
    if not text:
        raise SqlSegmentError("Write a SELECT that returns contact ids, e.g. SELECT id FROM contacts_contact.")
    scan = _scan(text)
    if len(scan.statements) > 1:
        raise SqlSegmentError("Only one statement is allowed; remove the second statement after ';'.")
    if not scan.statements:
        raise SqlSegmentError("Write a SELECT that returns contact ids, e.g. SELECT id FROM contacts_contact.")
    first = scan.words[0].lower() if scan.words else ""
    if first not in ("select", "with"):
        raise SqlSegmentError(
            f"Only a read-only SELECT (or WITH ... SELECT) is allowed; this statement starts with {first.upper() or '?'}."
        )
    lowered = [w.lower() for w in scan.words]
    for word in lowered:
        if word in FORBIDDEN_KEYWORDS:
            raise SqlSegmentError(f"{word.upper()} is not allowed: a segment is one read-only SELECT of contact ids.")
    for word in scan.words:
        if FORBIDDEN_FUNCTION.match(word) and not word.lower().startswith("pg_catalog"):
            raise SqlSegmentError(f"{word} is not allowed in a segment query.")
        if word.lower() in FORBIDDEN_TABLES:
            raise SqlSegmentError(f"The table {word} is not readable from a segment query.")
    # Keep the one statement's text, minus a trailing ';'.
    return text.rstrip().rstrip(";").rstrip()


def wrapped_ids_sql(sql: str, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """The statement as a subquery whose first (and only) column is named contact_id; '%' escaped for params.

    SQLite has no column list on a derived table (`AS herald_q(contact_id)`); a CTE's column list does the same.
    """
    body = sql_clean(sql).replace("%", "%%")
    if connections[using].vendor == "sqlite":
        return f"WITH herald_q(contact_id) AS ({body}\n) SELECT herald_q.contact_id FROM herald_q"
    return f"SELECT herald_q.contact_id FROM ({body}\n) AS herald_q(contact_id)"


class _Rollback(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result


def _sqlite_message(exc: DatabaseError, timeout: int | None = None) -> str:
    text = (str(exc).strip().splitlines() or ["?"])[0]
    if text == "interrupted":
        return f"The query ran longer than {(timeout or timeout_ms()) / 1000:g} s and was stopped; make it faster or narrower."
    if "readonly" in text or "read-only" in text:
        return "The query tried to change data; a segment is one read-only SELECT of contact ids."
    if "syntax error" in text or text.startswith("incomplete input"):
        return f"SQL syntax error: {text}."
    if text.startswith(("no such", "ambiguous column")) or "wrong number of arguments" in text:
        return f"The query is not valid: {text}."
    return f"The query failed: {text}."


def _message(exc: DatabaseError) -> str:
    cause: Any = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", "") or ""
    diag = getattr(cause, "diag", None)
    primary = (getattr(diag, "message_primary", None) or str(exc)).strip().splitlines()[0]
    if sqlstate == "57014":
        return f"The query ran longer than {timeout_ms() / 1000:g} s and was stopped; make it faster or narrower."
    if sqlstate == "25006":
        return "The query tried to change data; a segment is one read-only SELECT of contact ids."
    if sqlstate == "42601":
        return f"SQL syntax error: {primary}."
    if sqlstate.startswith("42"):
        return f"The query is not valid: {primary}."
    return f"The query failed: {primary}."


def run_read_only(work: Callable[[Any], T], *, timeout: int | None = None, using: str = DEFAULT_DB_ALIAS) -> T:
    """Run `work(cursor)` in a READ ONLY transaction (or savepoint) with statement_timeout, then roll back.

    Rolling back (instead of committing) restores the session settings and discards anything a sneaky statement
    managed to do. Database errors come back as SqlSegmentError with a message for the user.
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        return _run_read_only_sqlite(work, timeout=timeout, using=using)
    try:
        with transaction.atomic(using=using), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL statement_timeout = {int(timeout or timeout_ms())}")
            cursor.execute("SET LOCAL jit = off")  # see segments.selectors._guarded
            cursor.execute("SET TRANSACTION READ ONLY")
            raise _Rollback(work(cursor))
    except _Rollback as done:
        return done.result  # type: ignore[no-any-return]
    except DatabaseError as exc:
        raise SqlSegmentError(_message(exc)) from exc


# SQLite calls the progress handler every this many virtual-machine instructions (about a millisecond's work).
SQLITE_PROGRESS_STEPS = 10_000


def _run_read_only_sqlite(work: Callable[[Any], T], *, timeout: int | None, using: str) -> T:
    """The embedded database's version: `PRAGMA query_only` refuses any write, a progress handler stops the
    statement (SQLite raises "interrupted") once the timeout has passed; both are undone afterwards.

    The pragma is a setting of the connection, not of the transaction. It is switched on inside the transaction
    (Herald opens SQLite transactions with BEGIN IMMEDIATE, which query_only would refuse) and back off before
    the rollback, unless it was already on.
    """
    deadline = time.monotonic() + int(timeout or timeout_ms()) / 1000
    try:
        connection = connections[using]
        with transaction.atomic(using=using), connection.cursor() as cursor:
            raw: Any = connection.connection
            cursor.execute("PRAGMA query_only")
            was_query_only = bool(cursor.fetchone()[0])
            cursor.execute("PRAGMA query_only = ON")
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), SQLITE_PROGRESS_STEPS)
            try:
                result = work(cursor)
            finally:
                raw.set_progress_handler(None, 0)
                if not was_query_only:
                    cursor.execute("PRAGMA query_only = OFF")
            raise _Rollback(result)
    except _Rollback as done:
        return done.result  # type: ignore[no-any-return]
    except DatabaseError as exc:
        raise SqlSegmentError(_sqlite_message(exc, timeout)) from exc


@dataclass(frozen=True)
class SqlCheck:
    sql: str
    column: str
    count: int


def sql_check(sql: str, *, using: str = DEFAULT_DB_ALIAS) -> SqlCheck:
    """Validate a segment query by running it read-only: one integer column, and how many rows it returns."""
    clean = sql_clean(sql)

    def work(cursor: Any) -> SqlCheck:
        cursor.execute(f"SELECT * FROM ({clean}\n) AS herald_q LIMIT 0")
        columns = cursor.description or []
        if len(columns) != 1:
            names = ", ".join(c[0] for c in columns)
            raise SqlSegmentError(
                f"The query must return exactly one column, the contact id; it returns {len(columns)} ({names})."
            )
        if connections[using].vendor == "sqlite":
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

    return run_read_only(work, using=using)
