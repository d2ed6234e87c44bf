"""The second PostgreSQL session a large import writes its new contacts' attributes on (`SideSession`)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection

# The merge's statement timings log under one name, whichever module runs them (docs/benchmarks/import_contacts.md).
logger = logging.getLogger("contacts.importing.merge")


# The share of the new contacts whose attributes the side session writes. This session first inserts the contacts
# (about half as long as all their attributes), then writes the rest: 66 / 34 has both finish about together (the
# 1M benchmark's side 66 % took 40 s, this session's contacts and 34 % 19 + 21 s). While the consent ledger wrote a
# row per new contact here, 74 / 26 did; with one ledger entry per import (contact_merge._consent_entries) the main
# session at 74 % ended 2-3 s before the side on 200k fresh rows (load 6-7).
SIDE_SHARE = 0.66


class SideSession:
    """A second connection to the same PostgreSQL database, with its own transaction, for the part of a large merge
    that needs nothing from the rest: the attributes of the contacts the merge creates. Their ids are reserved
    before either insert, so the side writes the attributes of `SIDE_SHARE` of them while this session inserts the
    contacts and then the remaining attributes: on a 1M-row import the merge's inserts take ~31 s instead of ~50 s.

    Commit order: the caller commits its own transaction first, then calls `commit()`; leaving `side_session`'s
    block any other way rolls the side back. A crash between the two commits leaves contacts without their new
    attributes, never attributes without a contact, and importing the same file again writes what is missing.
    """

    def __init__(self) -> None:
        self.conn: psycopg.Connection[Any] | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.committed = False

    def connect(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
            self.conn = psycopg.connect(**params)
        return self.conn

    def start(self, statement: str, params: Sequence[Any]) -> None:
        """Run `statement` in the side transaction, on a thread: the caller's own statements go on meanwhile."""
        conn = self.connect()

        def run() -> None:
            started = time.perf_counter()
            try:
                with conn.cursor() as cursor:
                    cursor.execute(statement, params)
            except BaseException as exc:  # re-raised in the caller's thread by wait()
                self.error = exc
            logger.debug("%.3fs (side) %s", time.perf_counter() - started, statement[:100])

        self.thread = threading.Thread(target=run, name="import-side", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        """Wait for the side statement; its error is raised here, so the caller's transaction rolls back too."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        if self.error is not None:
            error, self.error = self.error, None
            with connection.wrap_database_errors:
                raise error

    def abandon(self) -> None:
        """Stop the side statement and roll its work back (the caller will do that work itself)."""
        if self.conn is None:
            return
        self.conn.cancel_safe()
        if self.thread is not None:
            self.thread.join()
            self.thread = None
        self.error = None
        self.conn.rollback()

    def commit(self) -> None:
        """Commit the side transaction (after the caller's committed); errors come as Django's DatabaseError."""
        if self.conn is not None:
            self.wait()
            with connection.wrap_database_errors:
                self.conn.commit()
            self.committed = True

    def close(self) -> None:
        if self.conn is None:
            return
        with contextlib.suppress(psycopg.Error):
            if self.thread is not None:
                self.conn.cancel_safe()
                self.thread.join()
            if not self.committed:
                self.conn.rollback()
        self.conn.close()
        self.conn = None


@contextlib.contextmanager
def side_session() -> Iterator[SideSession | None]:
    """A `SideSession` for the merge about to run in the caller's next `transaction.atomic()` block, or None where
    the side cannot follow that block's commit: SQLite, an atomic block already open (the caller's commit would not
    be the real one; tests run inside one), or `IMPORT_PARALLEL_MIN_CONTACTS = 0`."""
    if connection.vendor != "postgresql" or connection.in_atomic_block or not settings.IMPORT_PARALLEL_MIN_CONTACTS:
        yield None
        return
    side = SideSession()
    try:
        yield side
    finally:
        side.close()
