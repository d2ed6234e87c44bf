"""The staging tables of one import: rows streamed into a TEMP table (PostgreSQL: `COPY`, on a second thread
while the caller parses the next chunk; SQLite: `executemany`), then merged (`contact_merge`, `event_merge`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

from contacts import crypto
from contacts.importing.contact_merge import ContactMerge
from contacts.importing.event_merge import event_merge
from contacts.models import SensitiveAttribute

if TYPE_CHECKING:
    from contacts.importing.result import MergeResult
    from contacts.importing.side import SideSession

# `mobile` arrives encrypted (Staging.protect), with its blind index `mobile_hash` (what the merge compares). A row
# whose number its contact already stores (same email, same blind index) is staged "unsealed": `mobile` NULL and
# `mobile_hash` set, since the merge keeps the stored ciphertext for it (`ContactMerge._check_unsealed`).
CONTACT_STAGE_COLUMNS = (
    "line",
    "email",
    "first_name",
    "last_name",
    "mobile",
    "lms_lead_id",
    "status",
    "attrs",
    "mobile_hash",
)
EVENT_STAGE_COLUMNS = (
    "line",
    "email",
    "contact_id",
    "funnel_type",
    "from_stage",
    "to_stage",
    "created_at",
    "amount",
)

# A chunk's stored numbers are looked up while at least this share of its numbers is found stored (a re-import):
# a lookup costs about a third of the encryptions it saves, so a fresh file stops looking after its first chunk.
STORED_LOOKUP_MIN_SHARE = 1 / 3

# Emails -> the blind index each one's contact stores, in the same order ("" for none).
StoredLookup = Callable[[list[str]], list[str]]


class Staging:
    """The temp tables of one import, named uniquely so several imports can share a connection or a database."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.key = uuid.uuid4().hex[:12]
        self.stage = f"import_stage_{self.key}"
        self.merge = f"import_merge_{self.key}"
        self.types = f"import_types_{self.key}"
        self.changed = f"import_changed_{self.key}"
        self.new = f"import_new_{self.key}"
        self.postgres = connection.vendor == "postgresql"
        self.columns = CONTACT_STAGE_COLUMNS if kind == "contacts" else EVENT_STAGE_COLUMNS
        self.rows = 0
        self.unsealed = 0  # rows staged without a ciphertext (their contact stores the same number)
        self._look_up_stored = True
        self._sensitive: frozenset[str] | None = None

    def __enter__(self) -> Staging:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()

    def create(self) -> None:
        pg = self.postgres
        if self.kind == "contacts":
            definition = (
                "line integer, email text, first_name text, last_name text, mobile text, lms_lead_id text, "
                f"status text, attrs {'jsonb' if pg else 'text'}, mobile_hash text"
            )
        else:
            definition = (
                "line integer, email text, contact_id bigint, funnel_type text, from_stage text, to_stage text, "
                f"created_at {'timestamptz' if pg else 'text'}, amount {'numeric' if pg else 'text'}"
            )
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE {self.stage} ({definition})")

    def load_sensitive(self) -> frozenset[str]:
        """The names of the sensitive attributes (read once, on the caller's thread: the ORM's connection)."""
        if self._sensitive is None:
            self._sensitive = frozenset(SensitiveAttribute.objects.values_list("name", flat=True))
        return self._sensitive

    def protect(self, rows: Sequence[Sequence[Any]], stored: StoredLookup | None = None) -> Sequence[Sequence[Any]]:
        """Contact rows as they are staged: the mobile number encrypted with its blind index appended, and the
        values of sensitive attributes encrypted (contacts/crypto.py). Done here, before COPY, so no plain number
        reaches the database, not even a temp table. Event rows pass through.

        With `stored` (the stored blind index of each of the chunk's emails, PostgreSQL), a number its contact
        already stores is not encrypted again: the row is staged with its blind index only, and the merge keeps
        the stored ciphertext. A re-import then encrypts only new and changed numbers."""
        if self.kind != "contacts":
            return rows
        sensitive = self.load_sensitive()
        encrypt = crypto.fernet().encrypt
        digest = crypto.mobile_hasher()
        hashes = [digest(r[4]) if r[4] else None for r in rows]
        known: list[str] | None = None
        if stored is not None and self._look_up_stored and any(hashes):
            known = stored([r[1] for r in rows])
            if len(known) - known.count("") < len(rows) * STORED_LOOKUP_MIN_SHARE:
                self._look_up_stored = False
        tokens = [
            None if h is None or (known is not None and known[i] == h) else encrypt(r[4].encode()).decode()
            for i, (r, h) in enumerate(zip(rows, hashes, strict=True))
        ]
        if known is not None:
            self.unsealed += sum(
                1 for h, sealed in zip(hashes, tokens, strict=True) if h is not None and sealed is None
            )
        if sensitive:
            rows = [(*r[:7], _encrypt_attributes(r[7], sensitive) if r[7] else r[7]) for r in rows]
        # Comprehensions, not a loop of appends: this runs on every staged row, inside the GIL-bound stream.
        return [
            (r[0], r[1], r[2], r[3], sealed, r[5], r[6], r[7], h)
            for r, h, sealed in zip(rows, hashes, tokens, strict=True)
        ]

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows to the staging table: one COPY (PostgreSQL) or one executemany (SQLite)."""
        if not rows:
            return
        rows = self.protect(rows)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.copy(f"COPY {self.stage} ({', '.join(self.columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                adapt = connection.ops.adapt_datetimefield_value
                # sqlite3 adapts neither aware datetimes nor Decimal (an event's amount): both go as text.
                prepared = [
                    [adapt(v) if isinstance(v, dt.datetime) else str(v) if isinstance(v, Decimal) else v for v in row]
                    for row in rows
                ]
                cursor.executemany(f"INSERT INTO {self.stage} VALUES ({marks})", prepared)
        self.rows += len(rows)

    @contextlib.contextmanager
    def streaming(self) -> Iterator[Callable[[Sequence[Sequence[Any]]], None]]:
        """A `write` for a file's stream of chunks. On PostgreSQL each chunk is COPYed by a second thread while the
        caller parses the next one: the server's COPY of a chunk then overlaps the Python work of the next instead
        of following it (the 1M benchmark's stream: 11.3 s -> 7.5 s). At most two chunks wait, so memory stays
        flat. SQLite writes in the caller's thread."""
        if not self.postgres:
            yield self.write
            return
        copier = _BackgroundCopy(self)
        try:
            yield copier.put
        finally:
            copier.close()

    def drop(self) -> None:
        with connection.cursor() as cursor:
            for table in (self.stage, self.merge, self.types, self.changed, self.new, f"{self.merge}_attrs"):
                cursor.execute(f"DROP TABLE IF EXISTS {table}")

    # --- contacts -------------------------------------------------------------------------------------------

    def merge_contacts(
        self,
        *,
        types: dict[str, str],
        now: dt.datetime,
        batch_id: int | None = None,
        job_id: int | None = None,
        detail: bool = False,
        side: SideSession | None = None,
        source: str = "import",
        ip: str | None = None,
    ) -> MergeResult:
        """Merge the staged rows. With a `side` session (see `side_session`), a large import writes its new
        contacts' attributes there, beside this transaction. `source` and `ip` go to the consent ledger."""
        with transaction.atomic(), connection.cursor() as cursor:
            return ContactMerge(self, cursor, now=_param(now), at=now, side=side, source=source, ip=ip).run(
                types=types, batch_id=batch_id, job_id=job_id, detail=detail
            )

    # --- funnel events --------------------------------------------------------------------------------------

    def merge_events(self, *, detail: bool = False) -> MergeResult:
        with transaction.atomic(), connection.cursor() as cursor:
            return event_merge(self, cursor, detail=detail)


class _BackgroundCopy:
    """COPY chunks into the staging table from a second thread, on the same PostgreSQL session (the TEMP table is
    per session). psycopg connections are thread-safe: its lock makes a statement of the caller's thread (the
    job's progress, a lookup of attribute types) wait for the chunk being copied."""

    def __init__(self, staging: Staging) -> None:
        connection.ensure_connection()
        self.staging = staging
        self.raw = connection.connection
        staging.load_sensitive()
        self.sql = f"COPY {staging.stage} ({', '.join(staging.columns)}) FROM STDIN"
        self.chunks: queue.Queue[Sequence[Sequence[Any]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"copy-{staging.key}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (rows := self.chunks.get()) is not None:
            if self.error is not None:
                continue  # drain until close(), so put() never blocks on a dead writer
            try:
                # Protected here rather than by put(): the stored numbers' lookup then runs while the caller
                # parses the next chunk.
                rows = self.staging.protect(rows, self._stored)
                with self.raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            except BaseException as exc:  # handed to the caller's thread by put() and close()
                self.error = exc

    def _stored(self, emails: list[str]) -> list[str]:
        """The blind index each of `emails`' contact stores ("" for none), in their order. The emails go as one
        text and the hashes come back as one (a validated email holds no newline): fetching a row per email cost
        as much Python time as the encryptions it saves."""
        with self.raw.cursor() as cursor:
            cursor.execute(
                # A subquery per email probes the email index; a join hashed the whole contacts table per chunk.
                "SELECT string_agg(coalesce((SELECT c.mobile_hash FROM contacts_contact c WHERE c.email = u.email), "
                "''), ',' ORDER BY u.i) FROM unnest(string_to_array(%s, E'\\n')) WITH ORDINALITY AS u(email, i)",
                ["\n".join(emails)],
            )
            row = cursor.fetchone()
        return str(row[0] if row and row[0] is not None else "").split(",") if emails else []

    def _raise_error(self) -> None:
        if self.error is not None:
            with connection.wrap_database_errors:
                raise self.error

    def put(self, rows: Sequence[Sequence[Any]]) -> None:
        self._raise_error()
        if rows:
            self.chunks.put(rows)
            self.staging.rows += len(rows)

    def close(self) -> None:
        self.chunks.put(None)
        self.thread.join()
        self._raise_error()


def _encrypt_attributes(attrs: str, sensitive: frozenset[str]) -> str:
    """The staged attributes JSON with the values of sensitive names encrypted."""
    values = json.loads(attrs)
    if not sensitive.intersection(values):
        return attrs
    return json.dumps({k: crypto.encrypt_attribute(v) if k in sensitive else v for k, v in values.items()})


def _param(value: dt.datetime) -> Any:
    return value if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)
