"""What every layer of SQL segments shares (see `segments.sql`): the allowed tables, the timeout, the rollback."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from django.conf import settings

T = TypeVar("T")


@lru_cache(maxsize=1)
def allowed_tables() -> frozenset[str]:
    """The contact-side tables a segment may read (the same list migration 0002 grants SELECT on)."""
    from contacts.models import Batch, BatchMember, Contact, ContactAttribute, FunnelEvent
    from segments.models import SegmentMember

    return frozenset(
        m._meta.db_table for m in (Contact, ContactAttribute, FunnelEvent, Batch, BatchMember, SegmentMember)
    )


def timeout_ms() -> int:
    return int(settings.SEGMENT_SQL_TIMEOUT_MS)


class _Rollback(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result
