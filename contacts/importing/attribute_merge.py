"""The attributes half of the contacts merge (`ContactMerge`): the new contacts' attributes, written here or piped
to the side session, and the matched contacts' changed ones, in set-based statements."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from contacts.importing.side import SIDE_SHARE

if TYPE_CHECKING:
    from contacts.importing.side import SideSession
    from contacts.importing.staging import Staging

# The merge's statement timings log under one name, whichever module runs them (docs/benchmarks/import_contacts.md).
logger = logging.getLogger("contacts.importing.merge")


class AttributeMerge:
    """Mixed into `ContactMerge`, whose statements and state these methods share."""

    s: Staging
    cursor: Any
    now: Any
    pg: bool
    side: SideSession | None
    side_writes_attributes: bool
    main_from: int | None
    lost_race: int
    matched: int

    # ContactMerge's statement runners (`sql(statement, params=())`, `rows(...)`).
    sql: Callable[..., int]
    rows: Callable[..., list[tuple[Any, ...]]]

    def _side_attributes(self, types: dict[str, str], reserved: int) -> None:
        """Hand most of the new contacts' attributes to the side session and start their insert there: the
        reserved ids with each contact's staged attributes are piped from this session's temp tables into one of
        the side's. This session writes the rest once its contacts are in (`SIDE_SHARE`)."""
        assert self.side is not None
        started = time.perf_counter()
        split = self.rows("SELECT id FROM {NEW} ORDER BY id OFFSET %s LIMIT 1", [int(reserved * SIDE_SHARE)])
        self.main_from = split[0][0] if split else None
        below = "" if self.main_from is None else f"AND n.id < {int(self.main_from)}"
        side = self.side.connect()
        table = f"import_side_{self.s.key}"
        with side.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(f"CREATE TEMP TABLE {table} (id bigint, attrs jsonb) ON COMMIT DROP")
            # In no particular order: the side's insert sorts by id.
            source = f"COPY (SELECT n.id, n.attrs FROM {self.s.new} n WHERE n.attrs IS NOT NULL {below}) TO STDOUT"
            with self.cursor.copy(source) as out, cursor.copy(f"COPY {table} FROM STDIN") as into:
                for block in out:
                    into.write(block)
        logger.debug("%.3fs (side) attributes of the new contacts piped", time.perf_counter() - started)
        # In id order, like the single-session statement in `_attributes`.
        self.side.start(
            "INSERT INTO contacts_contactattribute "
            "(contact_id, field_name, field_type, field_value, created_at, updated_at) "
            f"SELECT a.id, kv.key, t.type, kv.value, %s, %s FROM (SELECT id, attrs FROM {table} ORDER BY id OFFSET 0) a "
            "CROSS JOIN LATERAL jsonb_each(a.attrs) AS kv(key, value) "
            "JOIN jsonb_each_text(%s::jsonb) AS t(name, type) ON t.name = kv.key",
            [self.now, self.now, json.dumps(types)],
        )
        self.side_writes_attributes = True

    def _attributes(self, types: dict[str, str]) -> None:
        if not types:
            return
        self.sql("CREATE TEMP TABLE {T} (name text PRIMARY KEY, type text)")
        self.cursor.executemany(f"INSERT INTO {self.s.types} VALUES (%s, %s)", list(types.items()))
        if self.pg:
            pairs = "CROSS JOIN LATERAL jsonb_each(m.attrs) AS kv(key, value)"
            value = "kv.value"
        else:
            pairs = "CROSS JOIN json_each(m.attrs) AS kv"
            value = "(m.attrs -> kv.fullkey)"
        upsert = (
            "ON CONFLICT (contact_id, field_name) DO UPDATE SET field_type = excluded.field_type, "
            "field_value = excluded.field_value, updated_at = excluded.updated_at"
        )
        differs = (
            "NOT EXISTS (SELECT 1 FROM contacts_contactattribute a WHERE a.contact_id = {cid} "
            f"AND a.field_name = kv.key AND a.field_type = t.type AND a.field_value = {value})"
        )
        cid = "coalesce(m.email_id, m.lms_id)"
        if self.matched:
            self._existing_attributes(pairs, value, cid, differs, upsert)
        columns = (
            "INSERT INTO contacts_contactattribute "
            "(contact_id, field_name, field_type, field_value, created_at, updated_at) "
        )
        pick = f"SELECT {{id}}, kv.key, t.type, {value}, %s, %s "
        each = f"{pairs} JOIN {{T}} t ON t.name = kv.key WHERE m.email_id IS NULL AND m.lms_id IS NULL"
        by_email = f"FROM {{M}} m JOIN contacts_contact c ON c.email = m.email {each}"
        if not self.pg:
            self.sql(f"{columns} {pick.format(id='c.id')} {by_email} {upsert}", [self.now, self.now])
            return
        if not self.side_writes_attributes:
            self._new_contact_attributes(columns)
        elif self.main_from is not None:  # the side session writes those of the lower ids (`_side_attributes`)
            self._new_contact_attributes(columns, from_id=self.main_from)
        if self.lost_race:
            # Rows whose email another import inserted meanwhile: merge their attributes into that contact.
            self.sql(
                f"{columns} {pick.format(id='c.id')} {by_email} "
                f"AND NOT EXISTS (SELECT 1 FROM {{NEW}} n WHERE n.email = m.email) {upsert}",
                [self.now, self.now],
            )

    def _new_contact_attributes(self, columns: str, from_id: int = 0) -> None:
        # Contacts this merge created have no attributes yet: a plain insert, no conflict handling. In contact
        # order, so the unique (contact, name) index is appended to at its right edge instead of at random pages
        # (2.8M rows: 18 s instead of 30 s, measured on the 1M benchmark's data). The contacts are sorted before
        # their attributes are expanded (one row per contact to sort, not three); jsonb_each and the hash join
        # with the small types table keep that order.
        self.sql(
            f"{columns} SELECT n.id, kv.key, t.type, kv.value, %s, %s FROM (SELECT id, attrs "
            "FROM {NEW} WHERE id >= %s ORDER BY id OFFSET 0) n "
            "CROSS JOIN LATERAL jsonb_each(n.attrs) AS kv(key, value) JOIN {T} t ON t.name = kv.key",
            [self.now, self.now, from_id],
        )

    def _existing_attributes(self, pairs: str, value: str, cid: str, differs: str, upsert: str) -> None:
        # Existing contacts: write only the attributes that differ, and remember who changed.
        self.sql(
            f"CREATE TEMP TABLE {{M}}_attrs AS SELECT {cid} AS contact_id, kv.key AS field_name, "
            f"t.type AS field_type, {value} AS field_value FROM {{M}} m {pairs} JOIN {{T}} t ON t.name = kv.key "
            f"WHERE {cid} IS NOT NULL AND {differs.format(cid=cid)}"
        )
        self.sql(
            "INSERT INTO {CH} (contact_id) SELECT DISTINCT a.contact_id FROM {M}_attrs a "
            "WHERE NOT EXISTS (SELECT 1 FROM {CH} ch WHERE ch.contact_id = a.contact_id)"
        )
        self.sql(
            "INSERT INTO contacts_contactattribute (contact_id, field_name, field_type, field_value, "
            "created_at, updated_at) SELECT contact_id, field_name, field_type, field_value, %s, %s "
            f"FROM {{M}}_attrs WHERE true ORDER BY 1, 2 {upsert}",
            [self.now, self.now],
        )
        self.sql("DROP TABLE {M}_attrs")
