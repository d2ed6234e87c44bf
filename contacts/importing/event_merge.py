"""The funnel events merge: staged events matched to contacts, duplicates and already recorded events left out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from contacts.importing.result import MergeResult

if TYPE_CHECKING:
    from contacts.importing.staging import Staging


def event_merge(s: Staging, cursor: Any, *, detail: bool) -> MergeResult:
    """Merge staged funnel events on the caller's cursor, inside its transaction (`Staging.merge_events`)."""
    result = MergeResult()

    def sql(statement: str, params: Sequence[Any] = ()) -> int:
        cursor.execute(statement.format(S=s.stage, M=s.merge), params)
        return int(cursor.rowcount or 0)

    sql(
        "CREATE TEMP TABLE {M} AS SELECT s.*, coalesce(cc.id, ce.id) AS cid FROM {S} s "
        "LEFT JOIN contacts_contact cc ON cc.id = s.contact_id "
        "LEFT JOIN contacts_contact ce ON s.contact_id IS NULL AND ce.email = s.email"
    )
    # Statistics (PostgreSQL) or an index (SQLite) so the duplicate checks below join, not loop row by row.
    sql("ANALYZE {M}" if s.postgres else "CREATE INDEX {M}_cid ON {M} (cid, created_at)")
    sql("SELECT line, email, contact_id FROM {M} WHERE cid IS NULL ORDER BY line")
    for line, email, contact_id in cursor.fetchall():
        reason = f"no contact with id {contact_id}" if contact_id is not None else f"no contact with email {email!r}"
        result.errors.append((line, reason))
    sql("DELETE FROM {M} WHERE cid IS NULL")
    same = (
        "{o}.funnel_type = {M}.funnel_type AND {o}.from_stage = {M}.from_stage "
        "AND {o}.to_stage = {M}.to_stage AND {o}.created_at = {M}.created_at"
    )
    result.skipped = sql(
        "DELETE FROM {M} WHERE EXISTS (SELECT 1 FROM {M} m2 WHERE m2.cid = {M}.cid AND m2.line > {M}.line AND "
        + same.format(o="m2", M="{M}")
        + ")"
    )
    if detail:
        sql(
            "SELECT line FROM {M} WHERE EXISTS (SELECT 1 FROM contacts_funnelevent e WHERE e.contact_id = {M}.cid AND "
            + same.format(o="e", M="{M}")
            + ")"
        )
        unchanged_lines = {line for (line,) in cursor.fetchall()}
    # Events are immutable: one already recorded (same contact, funnel, stages and time) is left alone, its amount
    # included (a second row with another amount would count the same conversion twice in revenue).
    result.unchanged = sql(
        "DELETE FROM {M} WHERE EXISTS (SELECT 1 FROM contacts_funnelevent e WHERE e.contact_id = {M}.cid AND "
        + same.format(o="e", M="{M}")
        + ")"
    )
    if detail:
        sql("SELECT line, cid FROM {M}")
        inserted = list(cursor.fetchall())
    result.created = sql(
        "INSERT INTO contacts_funnelevent (contact_id, funnel_type, from_stage, to_stage, created_at, amount) "
        "SELECT cid, funnel_type, from_stage, to_stage, created_at, amount FROM {M} ORDER BY line"
    )
    if detail:
        for line, cid in inserted:
            result.outcomes[line] = ("created", cid)
        for line in unchanged_lines:
            result.outcomes[line] = ("unchanged", None)
    return result
