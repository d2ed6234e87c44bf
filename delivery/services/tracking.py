"""Opens and clicks: recorded on the hot path, classified and stored in batches (docs/tracking.md).

The pixel and the redirect only verify their token and append one compact record to a Redis list (one RPUSH,
no database, no row lock); `tracking_buffer_flush` (a task the scheduler tick kicks every second) turns the
list into TrackingEvent rows and Delivery first-human-open/click times in one transaction per batch, then trims
what it stored. Exactly once: every hit carries a random `event_key` (unique in the table, ON CONFLICT DO NOTHING),
so a flush that dies between its COMMIT and its LTRIM re-reads those hits and inserts nothing twice.

Without Redis (the embedded default, or `TRACKING_BUFFER=direct`) and whenever Redis fails, the endpoint stores
the hit itself through the same `tracking_hits_ingest`: slower, but nothing is dropped (and each fallback is
logged). Webhook opens and clicks (Resend) go through it too, so every source feeds the same fields.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, OuterRef, Subquery
from django.utils import timezone

from delivery import classify
from delivery.models import Delivery, TrackingEvent

logger = logging.getLogger("delivery.tracking")

Kind = TrackingEvent.Kind
BUFFER_KEY = "herald:tracking:buffer"
LOCK_KEY = "herald:tracking:flush-lock"


@dataclass(frozen=True)
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
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: bytes | str) -> Hit | None:
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.at, tz=dt.UTC)


def hit_new(**fields: Any) -> Hit:
    return Hit(key=uuid.uuid4().hex, at=timezone.now().timestamp(), **fields)


# --- the hot path -------------------------------------------------------------------------------------------------

_clients: dict[str, redis.Redis] = {}


def buffer_client() -> redis.Redis | None:
    """The buffer's Redis client, or None when hits are stored directly. Short timeouts: with Redis down, the
    endpoint falls back to the database within a fraction of a second instead of hanging the reader's email."""
    if tracking_buffer_mode() != "redis":
        return None
    url = str(settings.REDIS_URL)
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.5, health_check_interval=30
        )
    return client


def tracking_buffer_mode() -> str:
    mode = str(getattr(settings, "TRACKING_BUFFER", "") or "")
    if mode in ("redis", "direct"):
        return mode if settings.REDIS_URL or mode == "direct" else "direct"
    return "redis" if settings.REDIS_URL else "direct"


class _GroupPush:
    """Group commit for the web process's threads: a request appends its hit and waits until Redis has it, but
    while one RPUSH is in flight the hits arriving meanwhile queue up and go together in the next one. Nothing is
    answered before Redis holds it (no loss on a crash), yet under load one round trip serves many requests
    (gunicorn's 8 threads otherwise pay 8 round trips, each a context switch to Redis and back)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: list[_Waiter] = []
        self._leading = False

    def push(self, client: redis.Redis, raw: str) -> None:
        me = _Waiter(raw)
        with self._cond:
            self._pending.append(me)
            while not me.done:
                if self._leading:
                    self._cond.wait()
                    continue
                self._leading = True
                batch, self._pending = self._pending, []
                self._cond.release()
                error: Exception | None = None
                try:
                    client.rpush(BUFFER_KEY, *[w.raw for w in batch])
                except redis.RedisError as exc:
                    error = exc
                finally:
                    self._cond.acquire()
                    for w in batch:
                        w.done, w.error = True, error
                    self._leading = False
                    self._cond.notify_all()
        if me.error is not None:
            raise me.error


class _Waiter:
    __slots__ = ("done", "error", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.done = False
        self.error: Exception | None = None


_group = _GroupPush()


def tracking_hit_record(*, hit: Hit) -> str:
    """Record one hit: buffered in Redis, or stored at once. Returns "buffered" or "stored"."""
    client = buffer_client()
    if client is not None:
        try:
            _group.push(client, hit.dumps())
            return "buffered"
        except redis.RedisError as exc:
            logger.warning("tracking buffer unavailable (%s): storing the %s directly", exc, hit.kind)
    tracking_hits_ingest(hits=[hit])
    return "stored"


# --- the flush ----------------------------------------------------------------------------------------------------


def tracking_buffer_flush(*, batch: int | None = None, max_batches: int = 20) -> int:
    """Store the buffered hits, a batch per transaction; returns how many were read. One flusher at a time."""
    client = buffer_client()
    if client is None:
        return 0
    size = int(batch or settings.TRACKING_FLUSH_BATCH)
    token = uuid.uuid4().hex
    if not client.set(LOCK_KEY, token, nx=True, ex=120):
        return 0
    done = 0
    try:
        for _ in range(max_batches):
            raw = client.lrange(BUFFER_KEY, 0, size - 1)
            if not raw:
                break
            hits = [h for h in (Hit.loads(r) for r in raw) if h is not None]
            if len(hits) != len(raw):
                logger.error("tracking buffer: %s unreadable entries skipped", len(raw) - len(hits))
            tracking_hits_ingest(hits=hits)
            # Only after the COMMIT: a crash before this line leaves the batch to be read again (event_key dedups).
            client.ltrim(BUFFER_KEY, len(raw), -1)
            done += len(raw)
            if len(raw) < size:
                break
    finally:
        if client.get(LOCK_KEY) == token.encode():
            client.delete(LOCK_KEY)
    return done


def tracking_buffer_length() -> int:
    client = buffer_client()
    return 0 if client is None else int(client.llen(BUFFER_KEY))  # type: ignore[arg-type]


def tracking_tick(*, now: dt.datetime | None = None) -> int:
    """SCHEDULER_TICK_HOOKS: hand the flush to a worker when hits are waiting (the tick itself stays fast).
    Returns the hits waiting."""
    try:
        waiting = tracking_buffer_length()
    except redis.RedisError as exc:
        logger.warning("tracking buffer unreadable: %s", exc)
        return 0
    if waiting:
        from delivery.tasks import tracking_flush_task

        tracking_flush_task.delay()
    return waiting


# --- classify and store -------------------------------------------------------------------------------------------


@dataclass
class _Row:
    send_id: int
    sent_at: dt.datetime | None
    first_open: dt.datetime | None  # any open, human or not
    clicks: list[tuple[dt.datetime, str, int | None]]  # (at, url, stored event id or None)
    batch: list[TrackingEvent] = field(default_factory=list)  # this delivery's events of the batch being stored


def tracking_hits_ingest(*, hits: list[Hit]) -> int:
    """Classify and store hits (one transaction); returns the events inserted. Hits already stored (same key)
    and hits of deliveries that no longer exist are skipped."""
    if not hits:
        return 0
    with transaction.atomic():
        keys = [uuid.UUID(h.key) for h in hits]
        stored = set(TrackingEvent.objects.filter(event_key__in=keys).values_list("event_key", flat=True))
        fresh = {h.key: h for h in hits if uuid.UUID(h.key) not in stored}
        hits = sorted(fresh.values(), key=lambda h: h.at)
        rows = _context(hits)
        events: list[TrackingEvent] = []
        burst_ids: set[int] = set()
        for hit in hits:
            row = rows.get(hit.delivery_id)
            if row is None:
                continue
            event = _classify(hit, row, burst_ids)
            row.batch.append(event)
            events.append(event)
        TrackingEvent.objects.bulk_create(events, ignore_conflicts=True)
        if burst_ids:
            TrackingEvent.objects.filter(pk__in=burst_ids).update(
                classification=TrackingEvent.Classification.MACHINE, rule=classify.SCANNER_BURST
            )
        _first_human_times(events, burst_ids)
    return len(events)


def _context(hits: list[Hit]) -> dict[int, _Row]:
    """What the rules need about each delivery: its send time, its first open, its recent clicks."""
    ids = {h.delivery_id for h in hits}
    rows = {
        d["pk"]: _Row(send_id=d["send_id"], sent_at=d["sent_at"], first_open=None, clicks=[])
        for d in Delivery.objects.filter(pk__in=ids).values("pk", "send_id", "sent_at")
    }
    if not rows:
        return rows
    opens = (
        TrackingEvent.objects.filter(delivery_id__in=rows, kind=Kind.OPEN)
        .values("delivery_id")
        .annotate(first=Min("created_at"))
    )
    for o in opens:
        rows[o["delivery_id"]].first_open = o["first"]
    window = dt.timedelta(seconds=float(settings.TRACKING_BURST_SECONDS))
    since = min(h.when for h in hits) - window
    recent = TrackingEvent.objects.filter(delivery_id__in=rows, kind=Kind.CLICK, created_at__gte=since)
    for c in recent.values("pk", "delivery_id", "created_at", "url"):
        rows[c["delivery_id"]].clicks.append((c["created_at"], c["url"], c["pk"]))
    return rows


def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def _classify(hit: Hit, row: _Row, burst_ids: set[int]) -> TrackingEvent:
    at = hit.when
    event = TrackingEvent(
        delivery_id=hit.delivery_id,
        send_id=row.send_id,
        kind=hit.kind,
        source=hit.source,
        url=hit.url[:4000] if hit.kind == Kind.CLICK else "",
        link_index=hit.link_index if hit.kind == Kind.CLICK else None,
        method=hit.method[:8],
        user_agent=hit.user_agent[:500],
        ip=_ip(hit.ip),
        created_at=at,
        event_key=uuid.UUID(hit.key),
    )
    if hit.kind == Kind.OPEN:
        verdict = classify.classify_open(
            user_agent=hit.user_agent, ip=hit.ip, at=at, sent_at=row.sent_at, method=hit.method
        )
        row.first_open = at if row.first_open is None or at < row.first_open else row.first_open
    else:
        window = dt.timedelta(seconds=float(settings.TRACKING_BURST_SECONDS))
        row.clicks.append((at, hit.url, None))
        in_window = [c for c in row.clicks if at - window <= c[0] <= at]
        links = {c[1] for c in in_window}
        verdict = classify.classify_click(
            user_agent=hit.user_agent,
            method=hit.method,
            at=at,
            sent_at=row.sent_at,
            opened_before=row.first_open is not None and row.first_open <= at,
            burst_links=len(links),
            link_count=hit.link_count,
        )
        if verdict.rule == classify.SCANNER_BURST:
            # The burst's earlier clicks looked human when they came: they are part of it too.
            starts = {c[0] for c in in_window}
            for _, _, pk in in_window:
                if pk is not None:
                    burst_ids.add(pk)
            for earlier in row.batch:
                if (
                    earlier.kind == Kind.CLICK
                    and earlier.created_at in starts
                    and earlier.rule != classify.SCANNER_BURST
                    and earlier.method.upper() != "HEAD"
                ):
                    earlier.classification, earlier.rule = TrackingEvent.Classification.MACHINE, classify.SCANNER_BURST
    if not verdict.human:
        event.classification, event.rule = TrackingEvent.Classification.MACHINE, verdict.rule
    return event


def _first_human_times(events: list[TrackingEvent], burst_ids: set[int]) -> None:
    """Delivery.opened_at / clicked_at = the first HUMAN open / click (a human click implies an open), set with
    one statement; deliveries whose stored clicks a burst re-classified get clicked_at recomputed."""
    opened: dict[int, dt.datetime] = {}
    clicked: dict[int, dt.datetime] = {}
    for e in events:
        if e.classification != TrackingEvent.Classification.HUMAN:
            continue
        if e.created_at < opened.get(e.delivery_id, e.created_at + dt.timedelta(seconds=1)):
            opened[e.delivery_id] = e.created_at
        if e.kind == Kind.CLICK and e.created_at < clicked.get(e.delivery_id, e.created_at + dt.timedelta(seconds=1)):
            clicked[e.delivery_id] = e.created_at
    if burst_ids:
        _recompute_first_times(burst_ids)
    _set_earliest("opened_at", opened)
    _set_earliest("clicked_at", clicked)


def _recompute_first_times(event_ids: Iterable[int]) -> None:
    """Stored clicks a burst re-classified may have set opened_at / clicked_at: both are recomputed, in one
    statement, from the remaining human events of those deliveries (a provider's open is an event too)."""
    deliveries = TrackingEvent.objects.filter(pk__in=list(event_ids)).values("delivery_id")
    human = TrackingEvent.objects.filter(
        delivery_id=OuterRef("pk"), classification=TrackingEvent.Classification.HUMAN
    ).order_by()
    first = human.values("delivery_id").annotate(first=Min("created_at")).values("first")
    first_click = human.filter(kind=Kind.CLICK).values("delivery_id").annotate(first=Min("created_at")).values("first")
    Delivery.objects.filter(pk__in=deliveries).update(opened_at=Subquery(first), clicked_at=Subquery(first_click))


def _set_earliest(field: str, times: dict[int, dt.datetime]) -> None:
    """One UPDATE ... FROM (VALUES ...): the earlier of the stored time and this batch's. Rows in id order, so two
    writers lock them in the same order."""
    if not times:
        return
    items = sorted(times.items())
    table = Delivery._meta.db_table
    if connection.vendor == "postgresql":
        values = ", ".join(["(%s::bigint, %s::timestamptz)"] * len(items))
        sql = (
            f"UPDATE {table} AS d SET {field} = v.at FROM (VALUES {values}) AS v(id, at) "
            f"WHERE d.id = v.id AND (d.{field} IS NULL OR d.{field} > v.at)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [p for item in items for p in item])
        return
    for delivery_id, at in items:  # SQLite (the embedded default): few events, one statement each
        Delivery.objects.filter(pk=delivery_id).filter(**{f"{field}__isnull": True}).update(**{field: at})
        Delivery.objects.filter(pk=delivery_id, **{f"{field}__gt": at}).update(**{field: at})
