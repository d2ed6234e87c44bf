"""The page path's statements as server-side prepared statements on PostgreSQL."""

from __future__ import annotations

from typing import Any, cast

import psycopg
from django.conf import settings
from django.db import connection

# Django opens psycopg connections with prepared statements off (`prepare_threshold=None`) and client-side
# binding. The page path's few statements run thousands of times per send, so they are prepared on purpose: a
# threshold no query reaches leaves every other query as Django runs it, while `prepare=True` prepares ours.
NEVER_AUTO_PREPARE = 2**31 - 1


def prepared(sql: str, params: Any) -> list[tuple[Any, ...]]:
    """Run one of the page path's statements on PostgreSQL as a server-side prepared statement, in the caller's
    transaction (the same connection Django uses). PostgreSQL parses and plans it once per connection instead of
    once per page (the claim's plan cost more than running it), and the id and value arrays travel as typed
    parameters instead of SQL literals. Errors are Django's (OperationalError ...), as from any other query.
    Returns the rows, if the statement returns any."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = NEVER_AUTO_PREPARE
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        # Off behind a transaction-pooling PgBouncer older than 1.21, which cannot route prepared statements.
        cursor.execute(sql, params, prepare=settings.DELIVERY_PREPARED_STATEMENTS)
        return cursor.fetchall() if cursor.description else []


def returning(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """The first row of an `UPDATE ... RETURNING` (prepared on PostgreSQL, see `_prepared`)."""
    if connection.vendor == "postgresql":
        rows = prepared(sql, params)
        return rows[0] if rows else None
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cast("tuple[Any, ...] | None", cursor.fetchone())
