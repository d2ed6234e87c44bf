"""Report page of a 1M-recipient send with 5M tracking events (issue 17), against plain counts in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench reports
    ... -m bench reports --recipients 100000 --events 500000    # smaller, for iterating
    ... -m bench reports --keep                                   # keep herald_h2_bench (default: dropped)

Data (generated set-based with generate_series into its own database, `--db`, default herald_h2_bench): one
campaign, one scenario, one Send of `--recipients` deliveries (97 % sent, 2 % bounced, 0.5 % failed, 0.5 %
complained; a third opened, 8 % clicked), `--events` tracking events over three days (one in five a click on one
of 12 links, one in seven a machine), and a conversion funnel event for one contact in twenty.

Timed, warm cache, median and p95 of `--repeat` runs:
- baseline: `SELECT count(*)` of the send's tracking events and of its deliveries (the rows a live report reads);
- compute: `reports.compute.send_report_compute` (what a worker runs; what a page would cost without the stored row);
- pages: the scenario's and the campaign's report pages through Django's test client (login, middleware,
  template, SVG charts), with the stored report fresh, and the number of SQL queries each runs.
Target (ARCHITECTURE §6): the report page <= 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import database_url, print_table, setup_django, timed

DB_NAME = "herald_h2_bench"


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50 ms": statistics.median(ordered) * 1000,
        "p95 ms": ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000,
    }


def _time(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


Expr = str | tuple[str, list[Any]]


def _insert_select(model: Any, exprs: dict[str, Expr], source: str, params: list[Any] | None = None) -> int:
    """INSERT INTO model's table (every concrete column) SELECT exprs (SQL by field name, with its parameters)
    FROM source; other columns get their Python default as a parameter, so the statement follows the model as
    other apps add columns to it."""
    from django.db import connection

    columns, values, args = [], [], []
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(connection.ops.quote_name(f.column))
        if f.name in exprs:
            expr = exprs[f.name]
            sql_part, expr_args = (expr, []) if isinstance(expr, str) else expr
            values.append(sql_part)
            args.extend(expr_args)
        else:
            values.append("%s")
            args.append(f.get_db_prep_save(f.get_default(), connection))
    sql = f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source}"
    with connection.cursor() as cursor:
        cursor.execute(sql, args + (params or []))
        return cursor.rowcount


def seed(recipients: int, events: int) -> tuple[int, int, int]:
    """Returns (campaign id, scenario id, send id)."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from campaigns.models import Campaign, Emailer, Scenario
    from contacts.models import Contact, FunnelEvent
    from delivery.models import Delivery, Send, TrackingEvent
    from tests.factories import CampaignFactory

    t0 = timezone.now() - dt.timedelta(days=3)
    campaign = cast(Campaign, CampaignFactory(name="Bench report"))
    scenario = Scenario.objects.create(
        campaign=campaign, subject="Bench send", content="x", send_date=t0.date(), send_time=t0.time(), status="sent"
    )
    send = Send.objects.create(label="Bench send", subject="Bench send", status="done", started_at=t0, total=recipients)
    Emailer.objects.create(
        campaign=campaign, scenario=scenario, batch=campaign.batch, scheduled_at=t0, active=False, sent=True, send=send
    )
    with timed() as t:
        _insert_select(
            Contact,
            {
                "email": "'r' || g || '@bench.example'",
                "first_name": "'F' || g",
                "created_at": "now()",
                "updated_at": "now()",
            },
            "generate_series(1, %s) g",
            [recipients],
        )
    print(f"contacts: {recipients:,} in {t.seconds:.1f} s", flush=True)
    status = (
        "CASE WHEN c.id %% 200 = 0 THEN 'failed' WHEN c.id %% 50 = 0 THEN 'bounced' "
        "WHEN c.id %% 200 = 7 THEN 'complained' ELSE 'sent' END"
    )
    with timed() as t:
        _insert_select(
            Delivery,
            {
                "send": ("%s", [send.pk]),
                "contact": "c.id",
                "email": "c.email",
                "page": "(c.id / 100)::int",
                "status": status,
                "sent_at": ("CASE WHEN c.id %% 200 = 0 THEN NULL ELSE %s::timestamptz END", [t0]),
                "delivered_at": (
                    "CASE WHEN c.id %% 50 = 0 THEN NULL ELSE %s::timestamptz + interval '1 minute' END",
                    [t0],
                ),
                "opened_at": (
                    "CASE WHEN c.id %% 3 = 0 THEN %s::timestamptz + (c.id %% 4000) * interval '1 minute' END",
                    [t0],
                ),
                "clicked_at": (
                    "CASE WHEN c.id %% 12 = 0 THEN %s::timestamptz + (c.id %% 4000 + 5) * interval '1 minute' END",
                    [t0],
                ),
            },
            "contacts_contact c WHERE c.email LIKE 'r%%@bench.example'",
        )
    lo = Delivery.objects.filter(send=send).order_by("id").values_list("id", flat=True)[:1][0]
    hi = Delivery.objects.filter(send=send).order_by("-id").values_list("id", flat=True)[:1][0]
    print(f"deliveries: {recipients:,} in {t.seconds:.1f} s", flush=True)
    with timed() as t:
        _insert_select(
            TrackingEvent,
            {
                "delivery": ("%s + (e %% %s)", [lo, hi - lo + 1]),
                "send": ("%s", [send.pk]),
                "kind": "CASE WHEN e %% 5 = 0 THEN 'click' ELSE 'open' END",
                "source": "CASE WHEN e %% 5 = 0 THEN 'redirect' ELSE 'pixel' END",
                "url": "CASE WHEN e %% 5 = 0 THEN 'https://example.com/link-' || (e %% 12) ELSE '' END",
                "classification": "CASE WHEN e %% 7 = 0 THEN 'machine' ELSE 'human' END",
                "rule": "CASE WHEN e %% 7 = 0 THEN 'bot-ua' ELSE '' END",
                "created_at": ("%s::timestamptz + ((e::bigint * 7919) %% 259200) * interval '1 second'", [t0]),
                "event_key": "gen_random_uuid()",
            },
            "generate_series(1, %s) e",
            [events],
        )
    print(f"tracking events: {events:,} in {t.seconds:.1f} s", flush=True)
    _insert_select(
        FunnelEvent,
        {
            "contact": "c.id",
            "funnel_type": "'sales'",
            "to_stage": "'converted'",
            "created_at": ("%s::timestamptz + (c.id %% 96) * interval '1 hour'", [t0]),
        },
        "contacts_contact c WHERE c.email LIKE 'r%%@bench.example' AND c.id %% 20 = 0",
    )
    with connection.cursor() as cursor:
        for table in ("contacts_contact", "delivery_delivery", "delivery_trackingevent", "contacts_funnelevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return campaign.pk, scenario.pk, send.pk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", default=DB_NAME)
    parser.add_argument("--keep", action="store_true", help="keep the database (default: dropped at the end)")
    parser.add_argument("--reuse", action="store_true", help="use the data a --keep run left (no seeding)")
    parser.add_argument("--csv", action="store_true", help="also stream the whole recipients CSV once")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()}", flush=True)
    if not args.reuse:
        _drop(args.db)
    setup_django(args.db)
    try:
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _drop(args.db)


def run(args: argparse.Namespace) -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts import roles
    from campaigns.models import Emailer
    from reports.compute import send_report_compute

    for name in roles.ALL_ROLES:
        Group.objects.get_or_create(name=name)
    if args.reuse:
        emailer = Emailer.objects.get(send__label="Bench send")
        campaign_id, scenario_id, send_id = emailer.campaign_id, emailer.scenario_id, int(emailer.send_id or 0)
    else:
        campaign_id, scenario_id, send_id = seed(args.recipients, args.events)

    def count(sql: str) -> Callable[[], Any]:
        def run_count() -> Any:
            with connection.cursor() as cursor:
                cursor.execute(sql, [send_id])
                return cursor.fetchone()

        return run_count

    rows: list[dict[str, Any]] = []
    events = count("SELECT count(*) FROM delivery_trackingevent WHERE send_id = %s")
    deliveries = count("SELECT count(*) FROM delivery_delivery WHERE send_id = %s")
    rows.append({"what": "baseline: count(*) of the send's tracking events", **_stats(_time(events, 5)), "queries": 1})
    rows.append({"what": "baseline: count(*) of the send's deliveries", **_stats(_time(deliveries, 5)), "queries": 1})
    compute = _time(lambda: send_report_compute(send_id=send_id), 2)
    with CaptureQueriesContext(connection) as ctx:
        send_report_compute(send_id=send_id)
    rows.append({"what": "compute the send's report (worker)", **_stats(compute), "queries": len(ctx.captured_queries)})

    client = Client(HTTP_HOST="127.0.0.1")  # an allowed host outside the test runner
    viewer, _created = User.objects.get_or_create(username="bench-reports-viewer")
    viewer.groups.add(Group.objects.get(name=roles.VIEWER))
    client.force_login(viewer)
    for label, url in (
        ("scenario report page", reverse("reports:scenario", args=[scenario_id])),
        ("campaign report page", reverse("reports:campaign", args=[campaign_id])),
        ("send report page", reverse("reports:send", args=[send_id])),
    ):

        def get(url: str = url) -> None:
            response = client.get(url)
            assert response.status_code == 200, response.status_code

        samples = _time(get, args.repeat)
        with CaptureQueriesContext(connection) as ctx:
            get()
        rows.append({"what": label, **_stats(samples), "queries": len(ctx.captured_queries)})
    if args.csv:
        rows.append(_recipients_csv(client, reverse("reports:scenario", args=[scenario_id])))
    page = max(row["p50 ms"] for row in rows if "page" in row["what"])
    print_table(
        f"Report of one send: {args.recipients:,} recipients, {args.events:,} tracking events "
        f"(load average now {os.getloadavg()[0]:.2f})",
        rows,
    )
    print(f"\nslowest page p50 {page:.0f} ms (target <= 300 ms): {'PASS' if page <= 300 else 'FAIL'}")


def _recipients_csv(client: Any, url: str) -> dict[str, Any]:
    """Stream the per-recipient export once: time to the first row, total, rows, and the process's peak RSS."""
    from bench._common import peak_rss_mb

    started = time.perf_counter()
    response = client.get(url + "?export=recipients")
    first = None
    lines = 0
    for chunk in response.streaming_content:
        if first is None:
            first = time.perf_counter() - started
        lines += chunk.count(b"\n")
    total = time.perf_counter() - started
    return {
        "what": f"recipients CSV, {lines - 1:,} rows streamed (first row {first or 0:.1f} s; "
        f"peak RSS {peak_rss_mb():.0f} MB)",
        "p50 ms": total * 1000,
        "p95 ms": total * 1000,
        "queries": "",
    }


def _drop(db_name: str) -> None:
    import psycopg
    from psycopg import sql

    admin = database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name)))


if __name__ == "__main__":
    main()
