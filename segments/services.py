"""Writes to segments. Every edge (dashboard, API, admin) goes through these."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction

from accounts import roles
from contacts.importing import reader as csv_reader
from contacts.models import Contact
from segments import sql as segment_sql
from segments.errors import RuleError, SqlSegmentError
from segments.functions import get_segment_function
from segments.models import Segment, SegmentMember
from segments.rules import compile_rules

DEFINITION_FIELDS = ("rules", "selection_sql", "handler_function")


def segment_check_write_permission(*, user: Any, segment_type: str, current_type: str | None = None) -> None:
    """Viewers write nothing; only Admins create or edit SQL segments (ARCHITECTURE §7)."""
    if not roles.can_edit(user):
        raise PermissionDenied("Your role (Viewer) can look but not change anything.")
    if Segment.Type.SQL in (segment_type, current_type) and not roles.is_admin(user):
        raise PermissionDenied("Only Admins can write SQL segments.")


def segment_validate_definition(*, segment: Segment) -> None:
    """Check the definition of an (unsaved) segment; ValidationError maps the message to the form field.

    Also normalises it: the fields that do not belong to the type are cleared, the SQL is trimmed.
    """
    if segment.type == Segment.Type.RULES:
        try:
            compile_rules(segment.rules)
        except RuleError as exc:
            raise ValidationError({"rules": str(exc)}) from exc
        segment.selection_sql, segment.handler_function = "", ""
    elif segment.type == Segment.Type.SQL:
        try:
            segment.selection_sql = segment_sql.sql_check(segment.selection_sql).sql
        except SqlSegmentError as exc:
            raise ValidationError({"selection_sql": str(exc)}) from exc
        segment.rules, segment.handler_function = {}, ""
    elif segment.type == Segment.Type.FUNCTION:
        if get_segment_function(segment.handler_function) is None:
            raise ValidationError({"handler_function": "Choose one of the registered segment functions."})
        segment.rules, segment.selection_sql = {}, ""
    elif segment.type == Segment.Type.MANUAL:
        segment.rules, segment.selection_sql, segment.handler_function = {}, "", ""
    else:
        raise ValidationError({"type": f"Unknown segment type {segment.type!r}."})


@transaction.atomic
def segment_create(
    *,
    user: Any,
    name: str,
    type: str,
    description: str = "",
    rules: Any = None,
    selection_sql: str = "",
    handler_function: str = "",
) -> Segment:
    segment_check_write_permission(user=user, segment_type=type)
    segment = Segment(
        name=name.strip(),
        description=description,
        type=type,
        rules=rules or {},
        selection_sql=selection_sql or "",
        handler_function=handler_function or "",
        created_by=user if getattr(user, "pk", None) else None,
    )
    if not segment.name:
        raise ValidationError({"name": "Give the segment a name."})
    segment_validate_definition(segment=segment)
    segment.save()
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, user: Any, **changes: Any) -> Segment:
    allowed = {"name", "description", "type", *DEFINITION_FIELDS}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))} of a segment.")
    current_type = Segment.objects.filter(pk=segment.pk).values_list("type", flat=True).first()
    segment_check_write_permission(user=user, segment_type=changes.get("type", segment.type), current_type=current_type)
    for name, value in changes.items():
        if name == "rules":
            value = value or {}
        elif name in ("selection_sql", "handler_function", "description"):
            value = value or ""
        elif name == "name":
            value = str(value).strip()
            if not value:
                raise ValidationError({"name": "Give the segment a name."})
        setattr(segment, name, value)
    segment_validate_definition(segment=segment)
    segment.save(update_fields=[*allowed, "updated_at"])
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, user: Any) -> None:
    segment_check_write_permission(user=user, segment_type=segment.type)
    segment.delete()


@dataclass
class MembersUpload:
    rows: int = 0
    matched: int = 0
    added: int = 0
    removed: int = 0
    not_found: list[str] = field(default_factory=list)

    @property
    def not_found_count(self) -> int:
        return len(self.not_found)


ID_HEADERS = {"id", "contact_id", "customer_id", "contact id", "customer id"}
EMAIL_HEADERS = {"email", "e-mail", "email_address", "email address"}
MAX_UPLOAD_ROWS = 1_000_000
MAX_ID = 2**63 - 1  # PostgreSQL bigint: a larger number cannot be a contact id (and would fail the query)


def _read_keys(file: IO[bytes] | IO[str]) -> tuple[list[int], list[str], int]:
    """Ids and emails of a member list. Text (a typed list, the API's JSON) is one key per line; a file is read by
    the contact import's reader (any usual encoding and delimiter, bounded columns and line length), so a file that
    is not a CSV is a ValidationError with the reason, never a 500."""
    raw = file.read()
    ids: list[int] = []
    emails: list[str] = []
    rows = 0
    column = 0
    try:
        if isinstance(raw, str):
            records: Iterator[tuple[int, list[str]]] = ((n, [line]) for n, line in enumerate(raw.splitlines(), 1))
        else:
            source = io.BytesIO(raw)
            records = csv_reader.iter_rows(source, csv_reader.detect_format(source))
        first = True
        for _line, row in records:
            if not any(cell.strip() for cell in row):
                continue
            if first:
                first = False
                headers = [cell.strip().lower() for cell in row]
                found = next((i for i, h in enumerate(headers) if h in ID_HEADERS | EMAIL_HEADERS), None)
                if found is not None:
                    column = found
                    continue
            if column >= len(row):
                continue
            value = row[column].strip()
            if not value:
                continue
            rows += 1
            if rows > MAX_UPLOAD_ROWS:
                raise ValidationError({"file": f"At most {MAX_UPLOAD_ROWS:,} rows per upload."})
            if value.isascii() and value.isdigit():
                number = int(value)
                if 0 < number <= MAX_ID:
                    ids.append(number)
                else:
                    emails.append(value)  # reported as not found, like any other unknown key
            else:
                emails.append(value.lower())
    except csv_reader.FileUnreadable as exc:
        raise ValidationError({"file": str(exc)}) from exc
    return ids, emails, rows


@transaction.atomic
def segment_members_upload(
    *, segment: Segment, user: Any, file: IO[bytes] | IO[str], replace: bool = False
) -> MembersUpload:
    """Add the contacts of a CSV (customer ids or emails, one per row, optional header) to a manual segment.

    One set-based INSERT ... SELECT matches ids and emails; unknown values are reported, not created.
    """
    segment_check_write_permission(user=user, segment_type=segment.type)
    if segment.type != Segment.Type.MANUAL:
        raise ValidationError({"file": "Only manual segments take an uploaded member list."})
    ids, emails, rows = _read_keys(file)
    if not rows:
        raise ValidationError({"file": "The file has no customer ids or emails."})
    result = MembersUpload(rows=rows)
    if replace:
        result.removed, _ = SegmentMember.objects.filter(segment=segment).delete()
    contact_table = Contact._meta.db_table
    member_table = SegmentMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH matched AS (
                SELECT id FROM {contact_table} WHERE id = ANY(%s::bigint[])
                UNION
                SELECT id FROM {contact_table} WHERE email = ANY(%s::text[])
            ), inserted AS (
                INSERT INTO {member_table} (segment_id, contact_id, added_at)
                SELECT %s, id, now() FROM matched
                ON CONFLICT (segment_id, contact_id) DO NOTHING
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM matched), (SELECT count(*) FROM inserted)
            """,
            [ids, emails, segment.pk],
        )
        matched, added = cursor.fetchone()
        cursor.execute(
            f"""
            SELECT v::text FROM unnest(%s::bigint[]) AS v
            WHERE NOT EXISTS (SELECT 1 FROM {contact_table} c WHERE c.id = v)
            UNION ALL
            SELECT v FROM unnest(%s::text[]) AS v
            WHERE NOT EXISTS (SELECT 1 FROM {contact_table} c WHERE c.email = v)
            LIMIT 1000
            """,
            [ids, emails],
        )
        result.not_found = [row[0] for row in cursor.fetchall()]
    result.matched, result.added = int(matched), int(added)
    return result


@transaction.atomic
def segment_members_remove(*, segment: Segment, user: Any, contact_ids: list[int]) -> int:
    segment_check_write_permission(user=user, segment_type=segment.type)
    deleted, _ = SegmentMember.objects.filter(segment=segment, contact_id__in=contact_ids).delete()
    return deleted
