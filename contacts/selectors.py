"""Reads of contacts, events, batches and imports: for other apps, the pages and the API.

Lists at a million rows are keyset pages (`WHERE id < last seen ORDER BY id DESC LIMIT n`): every page costs
the same, however deep. Totals are never a full COUNT(*): the table's size comes from pg_class.reltuples (the
planner's estimate, kept by autovacuum) and a filtered total is counted only up to a small cap.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Generic, TypeVar, cast

from django.db import connection
from django.db.models import Exists, Model, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Lower

from contacts.models import (
    Batch,
    BatchMember,
    ConsentRecord,
    Contact,
    ContactAttribute,
    FunnelEvent,
    ImportJob,
    SensitiveAttribute,
)

PAGE_SIZE = 50
COUNT_CAP = 1000
DETAIL_EVENTS = 100
IMPORT_ERRORS_SHOWN = 100

# On PostgreSQL every attribute row is in exactly one of three partial indexes keyed by field_name (migrations 0005
# and 0006): numbers, short strings of string attributes, the rest. A lookup by name alone reads each of them.
ATTRIBUTE_BUCKETS = ("value_num IS NOT NULL", "value_text IS NOT NULL", "value_num IS NULL AND value_text IS NULL")

M = TypeVar("M", bound=Model)


def batch_contact_ids(*, batch_id: int) -> QuerySet[BatchMember, int]:
    """The batch's members as a query of contact ids (a subquery, never a Python list)."""
    return BatchMember.objects.filter(batch_id=batch_id).values_list("contact_id", flat=True)


# --- search --------------------------------------------------------------------------------------------------


def _prefix(text: str) -> str:
    return text.strip().lower()


def contact_search(*, search: str = "", status: str = "") -> QuerySet[Contact]:
    """Contacts matching `search`, every term a prefix served by an index: an email (`ann@`, `ann.lee@ex`),
    a lead id, a first or last name, or `first last`."""
    qs = Contact.objects.all()
    if status:
        qs = qs.filter(status=status)
    term = _prefix(search)
    if not term:
        return qs
    if "@" in term or "." in term:
        # Looks like an email (names rarely hold a dot): one index-only range scan of (email, id).
        return qs.filter(email__startswith=term)
    qs = qs.alias(first_lower=Lower("first_name"), last_lower=Lower("last_name"))
    words = term.split()
    if len(words) >= 2:
        return qs.filter(first_lower__startswith=words[0], last_lower__startswith=" ".join(words[1:]))
    return qs.filter(
        Q(email__startswith=term)
        | Q(first_lower__startswith=term)
        | Q(last_lower__startswith=term)
        | Q(lms_lead_id=search.strip())
    )


# The import's own column names, and only those: an exported file imports back without stray attributes.
EXPORT_HEADER = ("email", "first_name", "last_name", "mobile", "lms_lead_id", "status")
EXPORT_CHUNK = 2000


def contact_export_rows(qs: QuerySet[Contact]) -> Iterator[tuple[Any, ...]]:
    """The EXPORT_HEADER values of `qs`, oldest first, in keyset chunks: memory stays flat however many match, and
    each chunk is its own short query rather than one cursor held open for the whole download."""
    last = 0
    while True:
        chunk = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", *EXPORT_HEADER)[:EXPORT_CHUNK])
        for row in chunk:
            yield row[1:]
        if len(chunk) < EXPORT_CHUNK:
            return
        last = chunk[-1][0]


def funnel_event_search(*, search: str = "", funnel_type: str = "", stage: str = "") -> QuerySet[FunnelEvent]:
    qs = FunnelEvent.objects.all()
    if funnel_type:
        qs = qs.filter(funnel_type=funnel_type)
    if stage:
        qs = qs.filter(Q(to_stage=stage.strip()) | Q(from_stage=stage.strip()))
    term = _prefix(search)
    if term.isdigit():
        return qs.filter(contact_id=int(term))
    if term:
        return qs.filter(contact__email__startswith=term)
    return qs


def import_job_list() -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("batch", "created_by").order_by("-id")


@dataclass
class ImportRowError:
    line: str
    reason: str
    data: str


def import_job_errors(*, job: ImportJob, limit: int = IMPORT_ERRORS_SHOWN) -> list[ImportRowError]:
    """The first `limit` rows of the job's error report (line, reason, data), read from the stored CSV; the
    rest of the report stays a download."""
    if not job.error_report:
        return []
    try:
        with job.error_report.open("rb") as raw:
            text = io.TextIOWrapper(cast(BinaryIO, raw), encoding="utf-8", newline="")
            reader = csv.reader(text)
            next(reader, None)  # header: line, reason, data
            return [
                ImportRowError(line=row[0], reason=row[1] if len(row) > 1 else "", data=row[2] if len(row) > 2 else "")
                for row in itertools.islice(reader, limit)
                if row
            ]
    except FileNotFoundError:
        return []


# --- keyset pages --------------------------------------------------------------------------------------------


@dataclass
class KeysetPage(Generic[M]):
    items: list[M]
    next_after: int | None  # pass as ?after= for the next (older) page
    prev_before: int | None  # pass as ?before= for the previous (newer) page

    @property
    def has_next(self) -> bool:
        return self.next_after is not None

    @property
    def has_previous(self) -> bool:
        return self.prev_before is not None

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous


def keyset_page(
    qs: QuerySet[M],
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
    related: Sequence[str] = (),
) -> KeysetPage[M]:
    """Newest first by id. `after`: rows older than that id; `before`: rows newer than it (the page before).

    The page's ids are picked first (an index-only scan when an index covers the filter and the id), then only
    those rows are read: a search matching thousands of contacts reads thousands of index entries, not rows.
    `related` are the foreign keys to join for display (select_related)."""
    if before is not None:
        ids = list(qs.filter(pk__gt=before).order_by("pk").values_list("pk", flat=True)[: size + 1])
        more_newer = len(ids) > size
        ids = ids[:size]
    else:
        if after is not None:
            qs = qs.filter(pk__lt=after)
        ids = list(qs.order_by("-pk").values_list("pk", flat=True)[: size + 1])
        more_older = len(ids) > size
        ids = ids[:size]
    items = list(qs.model._default_manager.select_related(*related).filter(pk__in=ids).order_by("-pk")) if ids else []
    if before is not None:
        return KeysetPage(
            items=items,
            next_after=items[-1].pk if items else None,
            prev_before=items[0].pk if items and more_newer else None,
        )
    return KeysetPage(
        items=items,
        next_after=items[-1].pk if items and more_older else None,
        prev_before=items[0].pk if items and after is not None else None,
    )


def table_row_estimate(model: type[Model]) -> int | None:
    """The planner's row estimate for the model's table (pg_class.reltuples, kept by autovacuum: no scan).
    None off PostgreSQL, and for a table never vacuumed or analysed (PostgreSQL 14+ says -1 then)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] >= 0 else None


def estimated_total(qs: QuerySet[M], *, filtered: bool) -> tuple[int, bool]:
    """(number, exact). Unfiltered on PostgreSQL: the planner's row estimate for the table (no scan).
    Filtered: an exact count when there are at most COUNT_CAP matches, else (COUNT_CAP, False)."""
    if not filtered:
        estimate = table_row_estimate(qs.model)
        if estimate is not None:
            return estimate, False
    found = qs.order_by()[: COUNT_CAP + 1].count()
    return (COUNT_CAP, False) if found > COUNT_CAP else (found, True)


# --- one contact ---------------------------------------------------------------------------------------------


def contact_detail(*, contact_id: int) -> Contact:
    """A contact with its attributes (by name) and its latest funnel events."""
    return Contact.objects.prefetch_related(
        Prefetch("attributes", queryset=ContactAttribute.objects.order_by("field_name")),
    ).get(pk=contact_id)


def contact_events(*, contact_id: int, limit: int = DETAIL_EVENTS) -> list[FunnelEvent]:
    return list(FunnelEvent.objects.filter(contact_id=contact_id).order_by("-created_at", "-id")[:limit])


def consent_ledger(*, contact_id: int) -> QuerySet[ConsentRecord]:
    """The contact's consent ledger: its own rows and the entry of the import or API bulk upsert that created it
    (`Contact.consent_origin`: one entry per import and action, shared by every contact that import created)."""
    origin = Contact.objects.filter(pk=contact_id).values("consent_origin_id")
    return ConsentRecord.objects.filter(Q(contact_id=contact_id) | Q(pk=Subquery(origin)))


def contact_consent(*, contact_id: int, limit: int = DETAIL_EVENTS) -> list[ConsentRecord]:
    """The contact's consent ledger, newest first (the contact page shows the latest; the export has all)."""
    return list(consent_ledger(contact_id=contact_id).order_by("-at", "-id")[:limit])


def is_sensitive_attribute(*, name: str) -> bool:
    """Whether an Admin marked attribute `name` sensitive (its values are stored encrypted)."""
    return SensitiveAttribute.objects.filter(name=name).exists()


def stored_attribute_types(names: Sequence[str]) -> dict[str, str]:
    """The field type each of `names` already has in the database (names not stored yet are left out): a few
    index probes per name, whatever the table's size."""
    names = sorted(set(names))
    if not names:
        return {}
    table = ContactAttribute._meta.db_table
    if connection.vendor != "postgresql":
        found = {}
        for name in names:  # SQLite keeps a plain field_name index
            stored = ContactAttribute.objects.filter(field_name=name).values_list("field_type", flat=True)[:1]
            if stored:
                found[name] = stored[0]
        return found
    probes = ", ".join(
        f"(SELECT field_type FROM {table} WHERE field_name = n.name AND {bucket} LIMIT 1)"
        for bucket in ATTRIBUTE_BUCKETS
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n.name, coalesce({probes}) FROM unnest(%s::text[]) AS n(name)", [names])
        return {name: field_type for name, field_type in cursor.fetchall() if field_type is not None}


# --- attributes, for the layers that render contacts (delivery, templates_app) ------------------------------


def contact_attributes(*, contact_id: int) -> dict[str, Any]:
    """One contact's attributes, name -> value."""
    return dict(ContactAttribute.objects.filter(contact_id=contact_id).values_list("field_name", "field_value"))


def contacts_attributes(*, contact_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The attributes of a page of contacts in one query: contact id -> name -> value (contacts with none are
    left out)."""
    result: dict[int, dict[str, Any]] = {}
    rows = ContactAttribute.objects.filter(contact_id__in=list(contact_ids)).values_list(
        "contact_id", "field_name", "field_value"
    )
    for contact_id, name, value in rows:
        result.setdefault(contact_id, {})[name] = value
    return result


def contacts_without_attribute(*, contacts: QuerySet[Contact], name: str) -> QuerySet[Contact]:
    """The contacts of `contacts` for whom attribute `name` is missing, null or empty (one anti-join)."""
    present = ContactAttribute.objects.filter(contact_id=OuterRef("pk"), field_name=name).exclude(
        Q(field_value__isnull=True) | Q(field_value=None) | Q(field_value="")
    )
    return contacts.filter(~Exists(present))


def batch_options(*, limit: int = 300) -> list[tuple[int, str]]:
    """(id, name) of the newest batches, for pickers (the rules builder's "in batch")."""
    return list(Batch.objects.order_by("-id").values_list("id", "name")[:limit])
