"""SQL expressions that read a contact attribute's JSON value, one set per database.

PostgreSQL reads `field_value` as jsonb (and the typed columns generated from it); SQLite, the embedded default,
reads the same JSON text with its JSON1 functions. Either way a value of the wrong JSON type reads as NULL, so it
never matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import BooleanField, DateField, DateTimeField, F, FloatField, Func, TextField

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

# --- jsonb value readers ----------------------------------------------------------------------------------


class JsonbText(Func):
    template = "(%(expressions)s #>> '{}')"
    output_field = TextField()


class JsonbDate(Func):
    template = "(CASE WHEN (%(expressions)s #>> '{}') ~ '^\\d{4}-\\d{2}-\\d{2}' THEN left(%(expressions)s #>> '{}', 10)::date END)"
    output_field = DateField()


class JsonbTimestamp(Func):
    template = "(CASE WHEN (%(expressions)s #>> '{}') ~ '^\\d{4}-\\d{2}-\\d{2}' THEN (%(expressions)s #>> '{}')::timestamptz END)"
    output_field = DateTimeField()


class ValueColumn(Func):
    """A column PostgreSQL generates from `field_value` (contacts migration 0005: value_num, value_text), read
    under the same table alias as `field_value`, so it works in the subqueries Django relabels (U0, U1 ...)."""

    def __init__(self, column: str, output_field: Any) -> None:
        super().__init__(F("field_value"), output_field=output_field)
        self.column = column

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        sql, params = compiler.compile(self.source_expressions[0])
        quoted = connection.ops.quote_name("field_value")
        assert sql.endswith(quoted), sql
        return sql[: -len(quoted)] + connection.ops.quote_name(self.column), tuple(params)


# --- SQLite (the embedded default) reads the same values with its JSON1 functions -------------------------
# Attribute values are JSON text there; json_type() names the type ('integer', 'real', 'text', 'true', 'false',
# 'array', 'object', 'null') and json_extract(v, '$') decodes the scalar. A value of the wrong type reads as NULL,
# so it never matches, as on PostgreSQL.

_SQLITE_DATE_GLOB = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"


class SqliteJsonType(Func):
    template = "json_type(%(expressions)s)"
    output_field = TextField()


class SqliteJsonNumeric(Func):
    template = (
        "(CASE WHEN json_type(%(expressions)s) IN ('integer', 'real') THEN json_extract(%(expressions)s, '$') END)"
    )
    output_field = FloatField()


class SqliteJsonText(Func):
    """Like `v #>> '{}'`: a string's text, a number's digits, 'true' / 'false'; NULL for JSON null."""

    template = (
        "(CASE json_type(%(expressions)s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        "ELSE CAST(json_extract(%(expressions)s, '$') AS TEXT) END)"
    )
    output_field = TextField()


class SqliteJsonString(Func):
    """Only JSON strings (exact string operators compare typed values on PostgreSQL too)."""

    template = "(CASE WHEN json_type(%(expressions)s) = 'text' THEN json_extract(%(expressions)s, '$') END)"
    output_field = TextField()


class SqliteJsonDate(Func):
    """'YYYY-MM-DD' (Django's SQLite date format) from a string starting with a date."""

    template = (
        "(CASE WHEN json_type(%(expressions)s) = 'text' AND json_extract(%(expressions)s, '$') GLOB "
        + _SQLITE_DATE_GLOB
        + " THEN substr(json_extract(%(expressions)s, '$'), 1, 10) END)"
    )
    output_field = DateField()


class SqliteJsonTimestamp(Func):
    """'YYYY-MM-DD HH:MM:SS.SSS' in UTC (Django's SQLite datetime format) from an ISO 8601 string.

    strftime() applies a '+HH:MM' / 'Z' suffix; a date alone reads as its midnight UTC. The '%' are doubled twice:
    once for Func's template, once for Django's SQLite cursor (which turns '%%' back into '%').
    """

    template = (
        "(CASE WHEN json_type(%(expressions)s) = 'text' AND json_extract(%(expressions)s, '$') GLOB "
        + _SQLITE_DATE_GLOB
        + " THEN strftime('%%%%Y-%%%%m-%%%%d %%%%H:%%%%M:%%%%f', json_extract(%(expressions)s, '$')) END)"
    )
    output_field = DateTimeField()


class SqliteJsonArrayHas(Func):
    """The JSON array (first expression) has an element equal to the second (typed: 3 is not "3")."""

    arity = 2
    output_field = BooleanField()

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> tuple[str, tuple[Any, ...]]:
        array_sql, array_params = compiler.compile(self.source_expressions[0])
        element_sql, element_params = compiler.compile(self.source_expressions[1])
        sql = (
            f"(json_type({array_sql}) = 'array' AND EXISTS (SELECT 1 FROM json_each({array_sql}) AS herald_e "
            f"WHERE herald_e.value = {element_sql}))"
        )
        return sql, (*array_params, *array_params, *element_params)
