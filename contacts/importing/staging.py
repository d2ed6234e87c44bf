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
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction

from contacts import crypto
from contacts.importing.contact_merge import ContactMerge
from contacts.importing.event_merge import event_merge
from contacts.importing.sealing import HeldNumbers, Seals, StreamSealing, blind_only, seal_here
from contacts.models import SensitiveAttribute

if TYPE_CHECKING:
    from contacts.importing.result import MergeResult
    from contacts.importing.side import SideSession


# `mobile` arrives encrypted, with its blind index `mobile_hash` (what the merge compares), or in a re-import with its
# blind index only (`mobile` NULL): the merge seals the rows that need a token (contacts/importing/sealing.py).
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
        # The plain numbers of rows staged with their blind index only (the held way, contacts/importing/sealing.py).
        self.held: HeldNumbers | None = None
        self.lead_ids = False  # whether a staged contact row carries an lms_lead_id
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

    def protect(self, rows: Sequence[Sequence[Any]], sealed: Seals | None = None) -> Sequence[Sequence[Any]]:
        """Contact rows as they are staged: the mobile number replaced by its token with its blind index appended
        (`sealed`: computed by the sealer process; else here, or the blind index only while `held` keeps the
        numbers), and the values of sensitive attributes encrypted (contacts/crypto.py). Event rows pass through."""
        if self.kind != "contacts":
            return rows
        if not self.lead_ids:
            self.lead_ids = any(map(itemgetter(5), rows))
        if self.held is not None:
            self.held.add(rows)
        if sealed is None:
            sealed = blind_only(rows) if self.held is not None else seal_here(rows)
        hashes, tokens = sealed
        sensitive = self.load_sensitive()
        if sensitive:
            rows = [(*r[:7], _encrypt_attributes(r[7], sensitive) if r[7] else r[7]) for r in rows]
        # Comprehensions, not a loop of appends: this runs on every staged row, inside the GIL-bound stream.
        return [
            (r[0], r[1], r[2], r[3], token or None, r[5], r[6], r[7], h or None)
            for r, h, token in zip(rows, hashes, tokens, strict=True)
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
    def streaming(self, size_hint: int = 0) -> Iterator[Callable[[Sequence[Sequence[Any]]], None]]:
        """A `write` for a file's stream of chunks. On PostgreSQL each chunk is COPYed by a second thread while the
        caller parses the next one: the server's COPY of a chunk then overlaps the Python work of the next instead
        of following it (the 1M benchmark's stream: 11.3 s -> 7.5 s). At most two chunks wait, so memory stays
        flat. SQLite writes in the caller's thread. `size_hint`: the file's size in bytes, if known (a large file
        starts the sealer process from its first chunk on, contacts/importing/sealing.py)."""
        if not self.postgres:
            yield self.write
            return
        copier = _BackgroundCopy(self, size_hint)
        try:
            yield copier.put
        finally:
            copier.close()

    def drop(self) -> None:
        with connection.cursor() as cursor:
            for table in (
                self.stage,
                self.merge,
                self.types,
                self.changed,
                self.new,
                f"{self.merge}_attrs",
                f"{self.merge}_tokens",
            ):
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
    job's progress, a lookup of attribute types) wait for the chunk being copied.

    A contacts import's first chunk chooses how its numbers are sealed (contacts/importing/sealing.py). With the
    sealer process, `put` sends each chunk's numbers there as soon as it is parsed and the COPY thread takes the
    answer when the chunk's turn comes; a sealer that does not start or dies leaves what it has not answered to
    this process."""

    def __init__(self, staging: Staging, size_hint: int = 0) -> None:
        connection.ensure_connection()
        self.staging = staging
        self.raw = connection.connection
        staging.load_sensitive()
        self.sql = f"COPY {staging.stage} ({', '.join(staging.columns)}) FROM STDIN"
        # Each chunk with whether its numbers went to the sealer.
        self.chunks: queue.Queue[tuple[Sequence[Sequence[Any]], bool] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.sealing = (
            StreamSealing(staging.key, size_hint, self._stored_with_number) if staging.kind == "contacts" else None
        )
        self.thread = threading.Thread(target=self._run, name=f"copy-{staging.key}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.chunks.get()) is not None:
            if self.error is not None:
                continue  # drain until close(), so put() never blocks on a dead writer
            rows, sent = item
            try:
                # Protected here rather than by put(): the wait for the sealer's answer, or this process's own
                # sealing, then overlaps the caller's parsing of the next chunk.
                rows = self.staging.protect(rows, self.sealing.answer() if self.sealing and sent else None)
                with self.raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            except BaseException as exc:  # handed to the caller's thread by put() and close()
                self.error = exc
                if self.sealing:
                    self.sealing.stop()  # so that put() is never left writing to a child nobody reads

    def _stored_with_number(self, emails: list[str]) -> int:
        """How many of `emails` are stored with a mobile number (one indexed query)."""
        with self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM contacts_contact WHERE email = ANY(%s) AND mobile_hash <> ''", [emails]
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def _raise_error(self) -> None:
        if self.error is not None:
            with connection.wrap_database_errors:
                raise self.error

    def put(self, rows: Sequence[Sequence[Any]]) -> None:
        self._raise_error()
        if rows:
            sent = False
            if self.sealing:
                if not self.sealing.chosen:
                    self.staging.held = self.sealing.choose(rows)
                sent = self.sealing.ahead(rows)
            self.chunks.put((rows, sent))
            self.staging.rows += len(rows)

    def close(self) -> None:
        self.chunks.put(None)
        self.thread.join()
        if self.sealing:
            self.sealing.close()
        self._raise_error()


def _encrypt_attributes(attrs: str, sensitive: frozenset[str]) -> str:
    """The staged attributes JSON with the values of sensitive names encrypted."""
    values = json.loads(attrs)
    if not sensitive.intersection(values):
        return attrs
    return json.dumps({k: crypto.encrypt_attribute(v) if k in sensitive else v for k, v in values.items()})


def _param(value: dt.datetime) -> Any:
    return value if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)
