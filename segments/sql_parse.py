"""Layer 2 of SQL segments (see `segments.sql`): PostgreSQL's own parser (`pglast`) and the allow-lists.

The text must be exactly one plain SELECT whose every node, relation, function and type is on a list here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pglast import ast, parse_sql
from pglast.enums import SQLValueFunctionOp
from pglast.parser import ParseError

from segments.errors import SqlSegmentError
from segments.sql_common import allowed_tables

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
