"""Runs the tracking store on SQLite (the embedded default) in a process of its own, and prints what it saw.

Started by tests/delivery/test_tracking_sqlite.py with DATABASE_URL=sqlite:///... and no REDIS_URL, the way
`make run` starts Herald: the pytest process itself is bound to PostgreSQL, and the store picks its SQL by
`connection.vendor`, so only a process whose default database is SQLite takes the SQLite branches
(`bulk_create(ignore_conflicts=True)`, the per-row first-time UPDATEs, the `IN` lookup of stored keys).

Each scenario gets fresh deliveries and records a JSON-serialisable result; the test module asserts on them.
`python -m tests.delivery.sqlite_tracking_run` prints one JSON object on its last line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from typing import Any

import django

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
BOT = "python-requests/2.32.3"


def main() -> dict[str, Any]:  # one scenario after the other, on purpose: one process, one setup
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings
    from django.utils import timezone

    from contacts.models import Contact
    from delivery.models import Delivery, Send, TrackingEvent
    from delivery.services import tracking, tracking_spool
    from delivery.services.tracking_store import hit_new, tracking_hits_ingest
    from delivery.tokens import click_token_make, open_token_make

    # The tables from the models (as pytest's --nomigrations): the migrations on SQLite are `make run`'s business
    # (tests/embedded/test_tracking_run.py), this module is about the store.
    settings.MIGRATION_MODULES = {app.label: None for app in django.apps.apps.get_app_configs()}
    call_command("migrate", run_syncdb=True, verbosity=0)

    out: dict[str, Any] = {"vendor": connection.vendor, "mode": tracking.tracking_buffer_mode()}
    send = Send.objects.create(label="sqlite", subject="Hi", body_text="Hello", body_html="<p>Hello</p>")
    sent_at = timezone.now() - dt.timedelta(hours=1)  # past every classification window but the ones a test sets
    made = 0

    def delivery(*, sent: dt.datetime = sent_at) -> Delivery:
        nonlocal made
        made += 1
        contact = Contact.objects.create(email=f"reader{made}@example.com")
        return Delivery.objects.create(
            send=send, contact=contact, email=contact.email, status=Delivery.Status.SENT, sent_at=sent
        )

    def events(d: Delivery) -> list[dict[str, Any]]:
        rows = TrackingEvent.objects.filter(delivery=d).order_by("created_at", "pk")
        return [
            {
                "kind": e.kind,
                "source": e.source,
                "classification": e.classification,
                "rule": e.rule,
                "url": e.url,
                "link_index": e.link_index,
                "method": e.method,
                "ip": e.ip,
                "created_at": e.created_at.isoformat(),
            }
            for e in rows
        ]

    def times(d: Delivery) -> dict[str, str | None]:
        d.refresh_from_db(fields=["opened_at", "clicked_at"])
        return {
            "opened_at": d.opened_at.isoformat() if d.opened_at else None,
            "clicked_at": d.clicked_at.isoformat() if d.clicked_at else None,
        }

    def open_url(d: Delivery) -> str:
        return f"/t/o/{open_token_make(delivery_id=d.pk, send_id=d.send_id)}"

    def click_url(d: Delivery, url: str, index: int = 0, count: int = 1) -> str:
        token = click_token_make(delivery_id=d.pk, send_id=d.send_id, link_index=index, link_count=count, url=url)
        return f"/t/c/{token}"

    client = Client(headers={"user-agent": CHROME}, HTTP_HOST="127.0.0.1")  # ALLOWED_HOSTS outside pytest

    # A person opens twice: two events, opened_at is the first.
    d = delivery()
    first = client.get(open_url(d))
    after_first = times(d)
    second = client.get(open_url(d))
    out["open"] = {
        "status": [first.status_code, second.status_code],
        "content_type": first["Content-Type"],
        "after_first": after_first,
        "after_second": times(d),
        "events": events(d),
    }

    # A person clicks (no open recorded, an hour after the send: a client that blocks images).
    d = delivery()
    response = client.get(click_url(d, "https://example.com/offer?a=1&b=2"))
    out["click"] = {
        "status": response.status_code,
        "location": response.get("Location"),
        "times": times(d),
        "events": events(d),
    }

    # Machines: a bot's open and a link checker's HEAD leave events and no first times.
    d = delivery()
    bot = client.get(open_url(d), headers={"user-agent": BOT})
    head = client.head(click_url(d, "https://example.com/a"))
    out["machine"] = {"status": [bot.status_code, head.status_code], "times": times(d), "events": events(d)}

    # A forged token: 400, nothing stored.
    d = delivery()
    forged = client.get(click_url(d, "https://example.com/a")[:-4] + "AAAA")
    out["forged"] = {"status": forged.status_code, "location": forged.get("Location"), "events": events(d)}

    # The same hit stored twice (a flush re-reading a batch it had committed): one row.
    d = delivery()
    hit = hit_new(
        kind=TrackingEvent.Kind.OPEN,
        source=TrackingEvent.Source.PIXEL,
        delivery_id=d.pk,
        send_id=d.send_id,
        user_agent=CHROME,
        ip="203.0.113.9",
    )
    out["repeat"] = {
        "inserted": [tracking_hits_ingest(hits=[hit]), tracking_hits_ingest(hits=[hit, hit])],
        "events": events(d),
        "times": times(d),
    }

    # A batch (the flush's unit) over several deliveries, out of order: classified in time order, first times
    # per delivery, one event per hit; a hit of a deleted delivery is dropped.
    a, b, gone = delivery(), delivery(), delivery()
    gone_id, base = gone.pk, timezone.now() - dt.timedelta(minutes=10)
    gone.delete()

    def at(seconds: int, **fields: Any) -> Any:
        fields.setdefault("user_agent", CHROME)
        hit = hit_new(send_id=send.pk, **fields)
        return dataclasses.replace(hit, at=(base + dt.timedelta(seconds=seconds)).timestamp())

    batch = [
        at(30, kind="click", source="redirect", delivery_id=a.pk, url="https://example.com/x", link_count=4),
        at(10, kind="open", source="pixel", delivery_id=a.pk),
        at(20, kind="open", source="pixel", delivery_id=b.pk, user_agent=BOT),
        at(40, kind="open", source="pixel", delivery_id=b.pk),
        at(50, kind="open", source="pixel", delivery_id=gone_id),
    ]
    out["batch"] = {
        "inserted": tracking_hits_ingest(hits=batch),
        "base": base.isoformat(),
        "a": {"times": times(a), "events": events(a)},
        "b": {"times": times(b), "events": events(b)},
        "gone": TrackingEvent.objects.filter(delivery_id=gone_id).count(),
    }

    # A hit stored after a later one (the direct path racing a flush, a webhook arriving late): opened_at moves
    # back to the earlier time.
    before = times(b)
    earlier = at(15, kind="open", source="pixel", delivery_id=b.pk)
    tracking_hits_ingest(hits=[earlier])
    out["late"] = {"before": before, "after": times(b), "earliest": earlier.when.isoformat()}

    # A scanner clicking every link within seconds, in two flushes: the click stored as human by the first is
    # re-classified by the second, and the delivery's first times are recomputed (back to none).
    d = delivery()
    links = [f"https://example.com/{n}" for n in range(3)]
    c0 = at(100, kind="click", source="redirect", delivery_id=d.pk, url=links[0], link_index=0, link_count=3)
    rest = [
        at(100 + n, kind="click", source="redirect", delivery_id=d.pk, url=links[n], link_index=n, link_count=3)
        for n in (1, 2)
    ]
    tracking_hits_ingest(hits=[c0])
    after_one = times(d)
    tracking_hits_ingest(hits=rest)
    out["burst"] = {"after_one": after_one, "after_all": times(d), "events": events(d)}

    # The Redis buffer and its flush on a SQLite database (REDIS_URL set next to SQLite: not the embedded default,
    # but a supported mix), when the test passes a Redis to use.
    redis_url = os.environ.get("TRACKING_SQLITE_FLUSH_REDIS_URL", "")
    if redis_url:
        with override_settings(REDIS_URL=redis_url, TRACKING_BUFFER="redis"):
            buffer = tracking.buffer_client()
            assert buffer is not None
            buffer.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)
            d = delivery()
            statuses = [
                client.get(open_url(d)).status_code,
                client.get(click_url(d, "https://example.com/f")).status_code,
            ]
            tracking_spool.spool_ship()  # the web process's shipper thread, by hand
            waiting = tracking.tracking_buffer_length()
            stored_before = len(events(d))
            flushed = tracking.tracking_buffer_flush()
            out["flush"] = {
                "statuses": statuses,
                "waiting": waiting,
                "stored_before_flush": stored_before,
                "flushed": flushed,
                "left": tracking.tracking_buffer_length(),
                "again": tracking.tracking_buffer_flush(),
                "times": times(d),
                "events": events(d),
            }
            buffer.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)
    return out


if __name__ == "__main__":
    result = main()
    sys.stdout.write(json.dumps(result) + "\n")
