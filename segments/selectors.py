"""Reads of segments. `segment_contact_ids` is the seam the send engine and campaigns use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlparse
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from contacts.models import Contact, ContactAttribute
from contacts.selectors import ATTRIBUTE_BUCKETS
from segments import sql as segment_sql
from segments.errors import SegmentError
from segments.functions import get_segment_function
from segments.models import Segment, SegmentMember
from segments.rules import compile_rules

SAMPLE_SIZE = 20
MEMBERS_PAGE_SIZE = 50


def segment_contact_ids(*, segment: Segment) -> QuerySet[Any, Any]:
    """The segment's contacts as a query of contact ids (a subquery, never a Python list).

    An SQL segment runs here and now, under `segments.sql.run_read_only` (the reader role, read-only, with the
    timeout), and the query returned reads the ids it produced: callers such as the send snapshot embed it in
    their own writing statement, where the user's text must never run.
    Raises SegmentError (with a message for the user) when the definition cannot be evaluated.
    """
    if segment.type == Segment.Type.SQL:
        subquery, params = segment_sql.materialised_ids_sql(segment.selection_sql)
        return Contact.objects.filter(pk__in=RawSQL(subquery, params)).order_by().values_list("id", flat=True)
    return _contact_ids(segment=segment)


def _contact_ids(*, segment: Segment) -> QuerySet[Any, Any]:
    """`segment_contact_ids`, lazily for every type: the SQL type embeds the user's text, so such a query only
    runs inside `_guarded`."""
    if segment.type == Segment.Type.MANUAL:
        if segment.pk is None:
            return SegmentMember.objects.none().values_list("contact_id", flat=True)
        return SegmentMember.objects.filter(segment_id=segment.pk).values_list("contact_id", flat=True)
    if segment.type == Segment.Type.RULES:
        return Contact.objects.filter(compile_rules(segment.rules)).order_by().values_list("id", flat=True)
    if segment.type == Segment.Type.SQL:
        raw = RawSQL(segment_sql.wrapped_ids_sql(segment.selection_sql), [])
        return Contact.objects.filter(pk__in=raw).order_by().values_list("id", flat=True)
    if segment.type == Segment.Type.FUNCTION:
        function = get_segment_function(segment.handler_function)
        if function is None:
            raise SegmentError(f"No segment function is registered as {segment.handler_function!r}.")
        ids = function.handler()
        if not isinstance(ids, QuerySet):
            raise SegmentError(f"The segment function {function.name!r} must return a QuerySet of contact ids.")
        return Contact.objects.filter(pk__in=ids).order_by().values_list("id", flat=True)
    raise SegmentError(f"Unknown segment type {segment.type!r}.")


def _guarded(segment: Segment, work: Any) -> Any:
    """SQL segments are read under the read-only transaction and timeout every time they run for a page.

    Other types run with PostgreSQL's JIT off for the statement: on a count over a million contacts the planner's
    cost crosses `jit_above_cost` and compiling took ~0.4 s, more than the rest of the query (bench/segments.py).
    And with `SEGMENT_WORK_MEM` for the statement: the id sets of a segment over a million contacts (290k ids for
    one attribute condition) spill the default 4 MB hashes to disk in several batches.
    """
    if segment.type == Segment.Type.SQL:
        return segment_sql.run_read_only(lambda _cursor: work(), clean=segment.selection_sql.strip())
    if connection.vendor != "postgresql":
        return work()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.SEGMENT_WORK_MEM])
        return work()


def segment_count(*, segment: Segment) -> int:
    ids = _contact_ids(segment=segment)
    return int(_guarded(segment, ids.count))


def _segment_contacts(*, segment: Segment) -> QuerySet[Contact]:
    """The segment's contacts ordered by id. Rules filter contacts directly, so a page (`id > after LIMIT n`)
    can walk the primary key and stop after n matches instead of materialising the whole segment."""
    if segment.type == Segment.Type.RULES:
        return Contact.objects.filter(compile_rules(segment.rules)).order_by("id")
    return Contact.objects.filter(pk__in=_contact_ids(segment=segment)).order_by("id")


def segment_sample(*, segment: Segment, limit: int = SAMPLE_SIZE) -> list[Contact]:
    qs = _segment_contacts(segment=segment)[:limit]
    return list(_guarded(segment, lambda: list(qs)))


def segment_contacts_slice(*, segment: Segment, offset: int, limit: int) -> list[Contact]:
    qs = _segment_contacts(segment=segment)[offset : offset + limit]
    return list(_guarded(segment, lambda: list(qs)))


@dataclass(frozen=True)
class MembersPage:
    contacts: list[Contact]
    after: int | None
    next_after: int | None


def segment_members_page(*, segment: Segment, after: int | None = None, limit: int = MEMBERS_PAGE_SIZE) -> MembersPage:
    """One keyset page of members ordered by id: cost stays flat however deep the page."""
    qs = _segment_contacts(segment=segment)
    if after:
        qs = qs.filter(id__gt=after)
    rows: list[Contact] = _guarded(segment, lambda: list(qs[: limit + 1]))
    next_after = rows[limit - 1].pk if len(rows) > limit else None
    return MembersPage(contacts=rows[:limit], after=after, next_after=next_after)


def segment_sql_text(*, segment: Segment) -> str:
    """The one SQL statement the segment runs, with values inlined, formatted for reading."""
    ids = _contact_ids(segment=segment)
    sql, params = ids.query.sql_with_params()
    if connection.vendor == "postgresql":
        text = connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]
    else:
        # SQLite: the values quoted by SQLite itself, as Django does for connection.queries.
        quoted = connection.ops._quote_params_for_last_executed_query(params) if params else ()  # type: ignore[attr-defined]
        text = sql % tuple(quoted)
    return str(sqlparse.format(text, reindent=True, keyword_case="upper"))


def segment_list(*, search: str = "", type: str = "") -> QuerySet[Segment]:
    qs = Segment.objects.select_related("created_by")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if type:
        qs = qs.filter(type=type)
    return qs.order_by("name", "id")


def attribute_catalog() -> list[tuple[str, str]]:
    """Distinct attribute names with their type, for the rules builder.

    Recursive skip-scans over the attribute indexes: a few index probes per distinct name, not a pass over every
    row.
    """
    table = ContactAttribute._meta.db_table
    if connection.vendor != "postgresql":
        # The embedded SQLite database is small: a plain grouped scan is fine (and SQLite has no skip-scan syntax).
        sql = f"SELECT field_name, MIN(field_type) FROM {table} GROUP BY field_name ORDER BY field_name LIMIT 500"
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [(row[0], row[1]) for row in cursor.fetchall()]
    # One recursive skip-scan per partial index of contacts_contactattribute (every row is in exactly one).
    scans, named = [], []
    for i, bucket in enumerate(ATTRIBUTE_BUCKETS):
        scans.append(
            f"b{i}(name) AS ((SELECT field_name FROM {table} WHERE {bucket} ORDER BY field_name LIMIT 1) "
            f"UNION ALL SELECT (SELECT field_name FROM {table} WHERE field_name > b{i}.name AND {bucket} "
            f"ORDER BY field_name LIMIT 1) FROM b{i} WHERE b{i}.name IS NOT NULL)"
        )
        named.append(
            f"SELECT name, (SELECT field_type FROM {table} WHERE field_name = b{i}.name AND {bucket} LIMIT 1) "
            f"FROM b{i} WHERE name IS NOT NULL"
        )
    sql = (
        f"WITH RECURSIVE {', '.join(scans)} SELECT DISTINCT ON (name) name, field_type "
        f"FROM ({' UNION ALL '.join(named)}) AS named(name, field_type) ORDER BY name LIMIT 500"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [(row[0], row[1]) for row in cursor.fetchall()]
