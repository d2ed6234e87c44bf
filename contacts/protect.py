"""Writes of encryption at rest: marking an attribute sensitive (its stored values are encrypted), unmarking it
(decrypted back), and re-encrypting everything under the first key after a key rotation (docs/privacy.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

from contacts import crypto
from contacts.models import ContactAttribute, SensitiveAttribute

PAGE = 5000


def _rewrite_attributes(*, name: str | None, change: Callable[[Any], Any]) -> int:
    """Rewrite the stored `field_value` of attribute `name` (every sensitive one when None) with `change`, in pages
    by id, reading and writing the raw column (the model field would decrypt on read). Returns rows rewritten."""
    table = ContactAttribute._meta.db_table
    names = [name] if name is not None else list(SensitiveAttribute.objects.values_list("name", flat=True))
    if not names:
        return 0
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    marks = ", ".join(["%s"] * len(names))
    rewritten, last = 0, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, field_value FROM {table} WHERE id > %s AND field_name IN ({marks}) "
                f"AND field_value IS NOT NULL ORDER BY id LIMIT {PAGE}",
                [last, *names],
            )
            rows = cursor.fetchall()
            if not rows:
                return rewritten
            last = rows[-1][0]
            updates = []
            for pk, raw in rows:
                value = crypto.json_loads(raw)
                new = change(value)
                if new != value:
                    updates.append((crypto.json_dumps(new), pk))
            cursor.executemany(f"UPDATE {table} SET field_value = %s{cast} WHERE id = %s", updates)
            rewritten += len(updates)


def sensitive_attribute_mark(*, name: str) -> tuple[SensitiveAttribute, int]:
    """Mark attribute `name` sensitive and encrypt its stored values; returns the mark and the rows encrypted.
    Segment rules on it are refused from then on (segments.rules)."""
    name = name.strip()
    mark, _ = SensitiveAttribute.objects.get_or_create(name=name)
    return mark, _rewrite_attributes(name=name, change=crypto.encrypt_attribute)


def sensitive_attribute_unmark(*, name: str) -> int:
    """Store attribute `name` in plain JSON again (values decrypted); returns the rows decrypted."""
    SensitiveAttribute.objects.filter(name=name).delete()
    return _rewrite_attributes(name=name, change=crypto.decrypt_attribute)


def encryption_rotate(*, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Re-encrypt every encrypted value under the first key of HERALD_ENCRYPTION_KEYS (and encrypt what is still
    plain: mobiles written before encryption, values of attributes marked sensitive). Idempotent; safe to run
    while Herald runs (each page is its own transaction). After it, keys after the first can be removed. Values
    that no configured key opens are left as they are and counted (`unreadable`)."""
    counts = {"mobile": 0, "attributes": 0, "unreadable": 0}
    last = 0
    digest = crypto.mobile_hasher()
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, mobile FROM contacts_contact WHERE id > %s AND mobile <> '' ORDER BY id LIMIT %s",
                [last, PAGE],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last = rows[-1][0]
            readable: list[tuple[int, str]] = []
            for pk, stored in rows:
                plain = crypto.decrypt(stored)
                if plain == stored and crypto.looks_encrypted(stored):
                    counts["unreadable"] += 1  # written under a key no longer configured: left as it is
                else:
                    readable.append((pk, plain))
            # Each number decrypted once and the page's tokens sealed in one batch (under the first key).
            tokens = crypto.encrypt_many([plain for _, plain in readable])
            updates = [(token, digest(plain), pk) for (pk, plain), token in zip(readable, tokens, strict=True)]
            cursor.executemany("UPDATE contacts_contact SET mobile = %s, mobile_hash = %s WHERE id = %s", updates)
            counts["mobile"] += len(updates)
        if progress:
            progress("mobile", counts["mobile"])

    def rotate_attribute(value: Any) -> Any:
        rotated = crypto.rotate_attribute(value)
        if rotated == value and crypto.is_encrypted_attribute(value):
            counts["unreadable"] += 1
        return rotated

    counts["attributes"] = _rewrite_attributes(name=None, change=rotate_attribute)
    if progress:
        progress("attributes", counts["attributes"])
    return counts
