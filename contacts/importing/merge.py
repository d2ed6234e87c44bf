"""Staging tables and the set-based merge: the whole import is a handful of statements, whatever the row count.

Valid rows are streamed into a TEMP staging table (PostgreSQL: `COPY`; SQLite: `executemany`), then merged with
a few `INSERT ... SELECT` / `UPDATE ... FROM` statements in one transaction. Staging is outside that transaction
so the job's progress (another connection reads it) can be written while the file streams. A large import writes
most of its new contacts' attributes on a second connection at the same time (`SideSession`).

Counting rule (contacts): every staged row ends as exactly one of created, updated, unchanged, skipped (an earlier
duplicate of a later row: same email, same lms_lead_id, or the same existing contact) or error (its email and its
lms_lead_id belong to two different contacts).

Cut along its seams: `staging` (the TEMP tables and the streaming COPY into them), `side` (the second
session), `contact_merge` and `event_merge` (the statements of each merge), `result` (what a merge counts).
Callers import from here.
"""

from __future__ import annotations

from contacts.importing.contact_merge import ContactMerge
from contacts.importing.event_merge import event_merge
from contacts.importing.result import MergeResult
from contacts.importing.side import SIDE_SHARE, SideSession, side_session
from contacts.importing.staging import CONTACT_STAGE_COLUMNS, EVENT_STAGE_COLUMNS, Staging

__all__ = [
    "CONTACT_STAGE_COLUMNS",
    "EVENT_STAGE_COLUMNS",
    "SIDE_SHARE",
    "ContactMerge",
    "MergeResult",
    "SideSession",
    "Staging",
    "event_merge",
    "side_session",
]
