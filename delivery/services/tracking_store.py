"""Classify hits and store them as TrackingEvents with the deliveries' first human open/click (docs/tracking.md).

Called with a batch by the buffer's flush, with one hit by an endpoint storing directly (no Redis) and by the
Resend webhook. Per batch: one query for the deliveries, one for their earlier opens, one for their recent clicks,
one INSERT of every event (PostgreSQL: `unnest` of one array per column, so the statement and its parameters do
not grow with the batch), one UPDATE per first-time column. Set-based, so a flush keeps ahead of the endpoints.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Case, Min, OuterRef, Q, Subquery, Value, When

from delivery import classify
from delivery.models import Delivery, TrackingEvent

Kind = TrackingEvent.Kind
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps with arguments builds an encoder per call
HUMAN = TrackingEvent.Classification.HUMAN
MACHINE = TrackingEvent.Classification.MACHINE


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3x, once per request on the hot path
class Hit:
    """One request to the pixel or the redirect (or one provider event), as the endpoint saw it."""

    key: str
    kind: str
    source: str
    delivery_id: int
    send_id: int
    at: float  # epoch seconds
    method: str = "GET"
    user_agent: str = ""
    ip: str | None = None
    url: str = ""
    link_index: int | None = None
    link_count: int = 0

    def dumps(self) -> str:
        """One line of the spool and one entry of the Redis buffer: a JSON array in the fields' order (no names:
        half the bytes of an object, and cheaper to write on the hot path)."""
        return _ENCODER.encode(
            [
                self.key,
                self.kind,
                self.source,
                self.delivery_id,
                self.send_id,
                self.at,
                self.method,
                self.user_agent,
                self.ip,
                self.url,
                self.link_index,
                self.link_count,
            ]
        )

    @classmethod
    def loads(cls, raw: bytes | str) -> Hit | None:
        try:
            data = json.loads(raw)
            # An object: an entry buffered by an older version (before the array form).
            return cls(**data) if isinstance(data, dict) else cls(*data)
        except (ValueError, TypeError):
            return None

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.at, tz=dt.UTC)


class _Keys:
    """Unique event keys without a uuid4 per hit: 64 random bits per process and a 64-bit counter, as a UUID's hex.
    Two processes drawing the same prefix has odds of about n²/2⁶⁵: never, in practice. A forked child draws a new
    prefix (delivery/services/tracking_spool.py resets it)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


keys = _Keys()


def hit_new(**fields: Any) -> Hit:
    # time.time(), not timezone.now(): the same instant without building a datetime on the hot path.
    return Hit(keys.next(), at=time.time(), **fields)


@dataclass(slots=True)
class _Event:
    """A TrackingEvent row before it is inserted (a model instance per row costs more than classifying it)."""

    key: uuid.UUID
    delivery_id: int
    send_id: int
    kind: str
    source: str
    url: str
    link_index: int | None
    method: str
    user_agent: str
    ip: str | None
    created_at: dt.datetime
    classification: str = HUMAN
    rule: str = ""


@dataclass
class _Row:
    send_id: int
    sent_at: dt.datetime | None
    first_open: dt.datetime | None  # any open, human or not
    clicks: list[tuple[dt.datetime, str, int | None]]  # (at, url, stored event id or None)
    batch: list[_Event] = field(default_factory=list)  # this delivery's events of the batch being stored
    has_pixel: bool = True  # the email carried the open pixel: an open could have been recorded before a click


def tracking_hits_ingest(*, hits: list[Hit]) -> int:
    """Classify and store hits (one transaction); returns the events inserted. Hits already stored (same key)
    and hits of deliveries that no longer exist are skipped.

    The first-time UPDATEs lock Delivery rows that a page send, another direct store or a webhook may be updating
    too: a deadlock (or a serialization failure) rolls this transaction back and it is simply run again (the
    event keys make a rerun store each hit once)."""
    if not hits:
        return 0
    for attempt in range(_ATTEMPTS):
        try:
            return _ingest(hits)
        except OperationalError as exc:
            if attempt == _ATTEMPTS - 1 or getattr(exc.__cause__, "sqlstate", "") not in _RETRYABLE:
                raise
    return 0  # not reached


_ATTEMPTS = 3
_RETRYABLE = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _ingest(hits: list[Hit]) -> int:
    with transaction.atomic():
        stored = _stored_keys([uuid.UUID(h.key) for h in hits])
        fresh = {h.key: h for h in hits if uuid.UUID(h.key) not in stored}
        ordered = sorted(fresh.values(), key=lambda h: h.at)
        rows = _context(ordered)
        events: list[_Event] = []
        burst_ids: set[int] = set()
        for hit in ordered:
            row = rows.get(hit.delivery_id)
            if row is None:
                continue
            event = _classify(hit, row, burst_ids)
            row.batch.append(event)
            events.append(event)
        _insert(events)
        if burst_ids:
            TrackingEvent.objects.filter(pk__in=burst_ids, classification=HUMAN).update(
                classification=MACHINE, rule=classify.SCANNER_BURST
            )
        _first_human_times(events, burst_ids)
    return len(events)


def _stored_keys(keys: list[uuid.UUID]) -> set[uuid.UUID]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT event_key FROM {TrackingEvent._meta.db_table} WHERE event_key = ANY(%s::uuid[])", [keys]
            )
            return {row[0] for row in cursor.fetchall()}
    return set(TrackingEvent.objects.filter(event_key__in=keys).values_list("event_key", flat=True))


def _context(hits: list[Hit]) -> dict[int, _Row]:
    """What the rules need about each delivery: its send time, its first open, its recent clicks."""
    ids = list({h.delivery_id for h in hits})
    # The pixel is in an email only when its send tracks opens and it has an HTML part (compose: a plain-text
    # scenario, or a "text" template, has none): without it no open can ever precede a click.
    html = ~Q(send__body_html="") | (Q(send__template__isnull=False) & ~Q(send__template__templating_type="text"))
    pixel = Case(When(Q(send__track_opens=True) & html, then=Value(True)), default=Value(False))
    rows = {
        d["pk"]: _Row(send_id=d["send_id"], sent_at=d["sent_at"], first_open=None, clicks=[], has_pixel=d["pixel"])
        for d in Delivery.objects.filter(pk__in=ids).annotate(pixel=pixel).values("pk", "send_id", "sent_at", "pixel")
    }
    if not rows:
        return rows
    opens = (
        TrackingEvent.objects.filter(delivery_id__in=list(rows), kind=Kind.OPEN)
        .values("delivery_id")
        .annotate(first=Min("created_at"))
    )
    for o in opens:
        rows[o["delivery_id"]].first_open = o["first"]
    since = min(h.when for h in hits) - dt.timedelta(seconds=float(settings.TRACKING_BURST_SECONDS))
    recent = TrackingEvent.objects.filter(delivery_id__in=list(rows), kind=Kind.CLICK, created_at__gte=since)
    for c in recent.values("pk", "delivery_id", "created_at", "url"):
        rows[c["delivery_id"]].clicks.append((c["created_at"], c["url"], c["pk"]))
    return rows


@lru_cache(maxsize=4096)
def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def _classify(hit: Hit, row: _Row, burst_ids: set[int]) -> _Event:
    at = hit.when
    click = hit.kind == Kind.CLICK
    event = _Event(
        key=uuid.UUID(hit.key),
        delivery_id=hit.delivery_id,
        send_id=row.send_id,
        kind=hit.kind,
        source=hit.source,
        url=hit.url[:4000] if click else "",
        link_index=hit.link_index if click else None,
        method=hit.method[:8],
        user_agent=hit.user_agent[:500],
        ip=_ip(hit.ip),
        created_at=at,
    )
    if not click:
        verdict = classify.classify_open(
            user_agent=hit.user_agent, ip=event.ip, at=at, sent_at=row.sent_at, method=hit.method
        )
        row.first_open = at if row.first_open is None or at < row.first_open else row.first_open
    else:
        window = dt.timedelta(seconds=float(settings.TRACKING_BURST_SECONDS))
        row.clicks.append((at, hit.url, None))
        in_window = [c for c in row.clicks if at - window <= c[0] <= at]
        verdict = classify.classify_click(
            user_agent=hit.user_agent,
            method=hit.method,
            at=at,
            sent_at=row.sent_at,
            opened_before=row.first_open is not None and row.first_open <= at,
            can_open=row.has_pixel,
            burst_links=len({c[1] for c in in_window}),
            link_count=hit.link_count,
        )
        if verdict.rule == classify.SCANNER_BURST:
            # The burst's earlier clicks looked human when they came: they are part of it too.
            burst_ids.update(pk for _, _, pk in in_window if pk is not None)
            starts = {c[0] for c in in_window}
            for earlier in row.batch:
                if earlier.kind == Kind.CLICK and earlier.created_at in starts and earlier.classification == HUMAN:
                    earlier.classification, earlier.rule = MACHINE, classify.SCANNER_BURST
    if not verdict.human:
        event.classification, event.rule = MACHINE, verdict.rule
    return event


_COLUMNS = (
    ("event_key", "uuid"),
    ("delivery_id", "bigint"),
    ("send_id", "bigint"),
    ("kind", "text"),
    ("source", "text"),
    ("url", "text"),
    ("link_index", "integer"),
    ("classification", "text"),
    ("rule", "text"),
    ("method", "text"),
    ("user_agent", "text"),
    ("ip", "inet"),
    ("created_at", "timestamptz"),
)


def _insert(events: list[_Event]) -> None:
    if not events:
        return
    values: dict[str, list[Any]] = {
        "event_key": [e.key for e in events],
        "delivery_id": [e.delivery_id for e in events],
        "send_id": [e.send_id for e in events],
        "kind": [e.kind for e in events],
        "source": [e.source for e in events],
        "url": [e.url for e in events],
        "link_index": [e.link_index for e in events],
        "classification": [e.classification for e in events],
        "rule": [e.rule for e in events],
        "method": [e.method for e in events],
        "user_agent": [e.user_agent for e in events],
        "ip": [e.ip for e in events],
        "created_at": [e.created_at for e in events],
    }
    if connection.vendor != "postgresql":  # SQLite (the embedded default)
        TrackingEvent.objects.bulk_create(
            [TrackingEvent(**{name: values[name][i] for name, _ in _COLUMNS}) for i in range(len(events))],
            ignore_conflicts=True,
        )
        return
    columns = ", ".join(name for name, _ in _COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in _COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TrackingEvent._meta.db_table} ({columns}) SELECT * FROM unnest({arrays}) "
            "ON CONFLICT (event_key) DO NOTHING",
            [values[name] for name, _ in _COLUMNS],
        )


def _first_human_times(events: list[_Event], burst_ids: set[int]) -> None:
    """Delivery.opened_at / clicked_at = the first HUMAN open / click (a human click implies an open), set with
    one statement each; deliveries whose stored clicks a burst re-classified get both recomputed first."""
    opened: dict[int, dt.datetime] = {}
    clicked: dict[int, dt.datetime] = {}
    for e in events:  # in time order: the first one seen per delivery is the earliest
        if e.classification != HUMAN:
            continue
        opened.setdefault(e.delivery_id, e.created_at)
        if e.kind == Kind.CLICK:
            clicked.setdefault(e.delivery_id, e.created_at)
    if burst_ids:
        _recompute_first_times(burst_ids)
    _set_earliest("opened_at", opened)
    _set_earliest("clicked_at", clicked)


def _recompute_first_times(event_ids: Iterable[int]) -> None:
    """Stored clicks a burst re-classified may have set opened_at / clicked_at: both are recomputed, in one
    statement, from the remaining human events of those deliveries (a provider's open is an event too)."""
    deliveries = TrackingEvent.objects.filter(pk__in=list(event_ids)).values("delivery_id")
    human = TrackingEvent.objects.filter(delivery_id=OuterRef("pk"), classification=HUMAN).order_by()
    first = human.values("delivery_id").annotate(first=Min("created_at")).values("first")
    first_click = human.filter(kind=Kind.CLICK).values("delivery_id").annotate(first=Min("created_at")).values("first")
    Delivery.objects.filter(pk__in=deliveries).update(opened_at=Subquery(first), clicked_at=Subquery(first_click))


def _set_earliest(column: str, times: dict[int, dt.datetime]) -> None:
    """The earlier of the stored time and this batch's, in one statement. Rows in id order, so two writers lock
    them in the same order."""
    if not times:
        return
    items = sorted(times.items())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Delivery._meta.db_table} AS d SET {column} = v.at "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at) "
                f"WHERE d.id = v.id AND (d.{column} IS NULL OR d.{column} > v.at)",
                [[i for i, _ in items], [at for _, at in items]],
            )
        return
    for delivery_id, at in items:  # SQLite: few events, one statement each
        Delivery.objects.filter(pk=delivery_id).filter(**{f"{column}__isnull": True}).update(**{column: at})
        Delivery.objects.filter(pk=delivery_id, **{f"{column}__gt": at}).update(**{column: at})
