"""The dashboard at `/` at a realistic volume (issue 17), against the live aggregate it replaces, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench dashboard
    ... -m bench dashboard --deliveries 100000 --sends 50     # smaller, for iterating
    ... -m bench dashboard --keep                              # keep herald_dashboard_bench (default: dropped)

Data (set-based, generate_series, its own database `--db`): `--contacts` contacts, `--sends` finished scenario
sends spread over the last 30 days carrying `--deliveries` Delivery rows (a quarter opened, 5 % clicked, 1 %
bounced), 3 sends in progress, 20 scheduled scenarios, `--automations` active automations (daily, hourly and
weekly schedules in several zones) with a month of past runs, and 5 journeys with `--enrollments` active
enrollments due over the next week.

Timed, warm cache, median and p95 of `--repeat` runs (wall time), and this process's CPU time (the machine may be
shared: the CPU time leaves out the waits for a core):
- baseline: the live 30-day aggregate (`delivery.overview_selectors.engagement_by_day`, what the page would run
  without the pre-aggregate), and a bare `count(*)` of the deliveries sent in the window;
- refresh: `dashboard.services.daily_stats_refresh` (the worker's job, every DASHBOARD_STATS_SECONDS);
- the dashboard's sections one by one, and the pages `/`, `/calendar/` (month, this one and the previous one)
  through Django's test client, with their number of SQL queries, next to a plain page (notifications) for the
  cost of any page;
- the calendar month's agenda against its computation before the calendar fix (bench/_calendar_before.py), on
  the same rows, after checking both draw the same grid;
- the engagement segment condition "opened in the last 30 days" counted over the contacts, against the same
  count written by hand.
Target (ARCHITECTURE §6): dashboard <= 200 ms; calendar month <= 200 ms (issue 17).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import database_url, print_table, setup_django, timed

DB_NAME = "herald_dashboard_bench"


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50 ms": round(statistics.median(ordered) * 1000, 1),
        "p95 ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000, 1),
    }


def _time(fn: Callable[[], Any], repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Wall times of `repeat` warm runs; with `cpu`, this process's CPU time of each run is appended to it (the
    machine is shared: CPU time does not count the waits for a core, wall time does)."""
    fn()  # warm
    samples = []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.process_time() - started_cpu)
    return samples


def _sql(statement: str, params: list[Any] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.rowcount


def seed(args: argparse.Namespace) -> None:
    from django.utils import timezone

    from automations.models import Automation, AutomationRun, Journey
    from campaigns.models import Campaign, Emailer, Scenario
    from contacts.models import Batch
    from delivery.models import Send

    now = timezone.now()
    with timed() as t:
        _sql(
            "INSERT INTO contacts_contact (email, first_name, last_name, mobile, lms_lead_id, status, created_at, "
            "updated_at) SELECT 'c' || g || '@bench.example', 'F' || g, 'L', '', NULL, 'subscribed', now(), now() "
            "FROM generate_series(1, %s) g",
            [args.contacts],
        )
    print(f"contacts: {args.contacts:,} in {t.seconds:.1f} s", flush=True)

    campaigns = []
    for i in range(30):
        batch = Batch.objects.create(name=f"Bench {i}", source=Batch.Source.CAMPAIGN)
        campaigns.append(
            Campaign.objects.create(
                name=f"Bench campaign {i}",
                start_date=(now - dt.timedelta(days=40)).date(),
                end_date=(now + dt.timedelta(days=60)).date(),
                batch=batch,
            )
        )
    per_send = max(1, args.deliveries // args.sends)
    with timed() as t:
        for i in range(args.sends):
            at = now - dt.timedelta(days=30) + dt.timedelta(seconds=int(30 * 86400 * i / args.sends))
            campaign = campaigns[i % len(campaigns)]
            scenario = Scenario.objects.create(
                campaign=campaign,
                subject=f"Bench scenario {i}",
                content="x",
                send_date=at.date(),
                send_time=at.time().replace(microsecond=0),
                status="sent",
                contacts_served=per_send,
                sent_at=at,
            )
            send_id = Send.objects.create(
                label=scenario.subject,
                subject=scenario.subject,
                status="done",
                total=per_send,
                sent=per_send,
                snapshot_at=at,
                started_at=at,
                finished_at=at + dt.timedelta(minutes=10),
            ).pk
            Send.objects.filter(pk=send_id).update(created_at=at)  # auto_now_add: as if created that day
            Emailer.objects.create(
                campaign=campaign,
                scenario=scenario,
                batch=campaign.batch,
                scheduled_at=at,
                active=False,
                sent=True,
                send_id=send_id,
            )
            # Recipients: distinct contacts per send; opened 25 %, clicked 5 %, bounced 1 %.
            _sql(
                "INSERT INTO delivery_delivery (send_id, contact_id, email, page, status, provider_message_id, "
                "attempts, last_error, sent_at, opened_at, clicked_at) "
                "SELECT %s, c, 'c' || c || '@bench.example', g / 100, "
                "CASE WHEN g %% 100 = 99 THEN 'bounced' ELSE 'sent' END, 'm' || %s || '-' || g, 1, '', "
                "%s + g * interval '100 ms', "
                "CASE WHEN g %% 4 = 0 THEN %s + interval '1 hour' + g * interval '2 s' END, "
                "CASE WHEN g %% 20 = 0 THEN %s + interval '1 hour' + g * interval '3 s' END "
                "FROM (SELECT g, ((%s * 7919 + g) %% %s) + 1 AS c FROM generate_series(0, %s) g) s",
                [send_id, send_id, at, at, at, i, args.contacts, per_send - 1],
            )
    print(f"sends: {args.sends} x {per_send:,} deliveries in {t.seconds:.1f} s", flush=True)

    for i in range(20):
        at = now + dt.timedelta(hours=3 * i + 1)
        Scenario.objects.create(
            campaign=campaigns[i],
            subject=f"Upcoming {i}",
            content="x",
            send_date=at.date(),
            send_time=at.time().replace(second=0, microsecond=0),
            status="scheduled",
        )
    for i in range(3):
        scenario = Scenario.objects.create(
            campaign=campaigns[i],
            subject=f"Sending {i}",
            content="x",
            send_date=now.date(),
            send_time=dt.time(0, 0),
            status="sending",
        )
        sending = Send.objects.create(
            label=scenario.subject,
            subject=scenario.subject,
            status="sending",
            total=50000,
            sent=10000 * (i + 1),
            pages=500,
            next_page=32,
            started_at=now - dt.timedelta(minutes=5),
        )
        Emailer.objects.create(
            campaign=campaigns[i],
            scenario=scenario,
            batch=campaigns[i].batch,
            scheduled_at=now,
            active=True,
            send_id=sending.pk,
        )

    zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
    crons = ["{m} {h} * * *", "{m} * * * *", "{m} {h} * * 1", "{m} {h} * * 1-5", "{m} {h} 1 * *"]
    automations = Automation.objects.bulk_create(
        Automation(
            name=f"Automation {i}",
            cron=crons[i % len(crons)].format(m=i % 60, h=(i // 60) % 24),
            timezone=zones[i % len(zones)],
        )
        for i in range(args.automations)
    )
    AutomationRun.objects.bulk_create(
        AutomationRun(automation=a, due_at=now - dt.timedelta(days=d, minutes=a.pk % 600), status="sent")
        for a in automations
        for d in range(1, 31, 3)
    )
    print(f"automations: {len(automations):,} with runs", flush=True)

    journeys = [Journey.objects.create(name=f"Journey {i}", status="active", trigger={"type": "api"}) for i in range(5)]
    with timed() as t:
        _sql(
            "INSERT INTO automations_enrollment (journey_id, contact_id, step_key, visit, step_ran, next_at, status, "
            "reason, trigger_key, entered_at) SELECT %s + (g %% 5), g, 's1', 1, false, "
            "now() + (g %% 10080) * interval '1 minute', 'active', '', '', now() FROM generate_series(1, %s) g",
            [journeys[0].pk, min(args.enrollments, args.contacts)],
        )
    print(f"enrollments: {min(args.enrollments, args.contacts):,} in {t.seconds:.1f} s", flush=True)
    # Every finished send has its report, as the reports worker leaves them (the dashboard's conversions and
    # revenue, and the period page, read them): computed by the real path, with a few conversions worth something.
    from contacts.models import FunnelEvent
    from reports.compute import send_report_compute

    _sql(
        "INSERT INTO contacts_funnelevent (contact_id, funnel_type, from_stage, to_stage, created_at, amount) "
        "SELECT contact_id, 'sales', '', 'converted', clicked_at + interval '1 hour', 10 + id %% 90 "
        "FROM delivery_delivery WHERE clicked_at IS NOT NULL AND id %% 5 = 0"
    )
    with timed() as t:
        finished = list(Send.objects.filter(status="done").values_list("id", flat=True))
        for send_id in finished:
            send_report_compute(send_id=send_id)
    print(
        f"reports: {len(finished)} computed in {t.seconds:.1f} s "
        f"({FunnelEvent.objects.filter(amount__isnull=False).count():,} conversions with an amount)",
        flush=True,
    )
    for table in (
        "contacts_contact",
        "delivery_send",
        "delivery_delivery",
        "automations_enrollment",
        "automations_automationrun",
        "contacts_funnelevent",
        "reports_sendreport",
        "campaigns_scenario",
        "campaigns_emailer",
    ):
        _sql(f"VACUUM ANALYZE {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--automations", type=int, default=1000)
    parser.add_argument("--enrollments", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--db", default=DB_NAME)
    parser.add_argument("--keep", action="store_true", help="keep the database (default: dropped at the end)")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()}", flush=True)
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
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts import roles
    from contacts.models import Contact
    from dashboard import selectors, services
    from delivery import overview_selectors
    from segments.rules import compile_rules
    from tests.factories import user_with_role

    for name in roles.ALL_ROLES:
        Group.objects.get_or_create(name=name)
    seed(args)
    user = user_with_role(roles.CAMPAIGN_MANAGER)
    zone = timezone.get_current_timezone()
    now = timezone.now()
    today = timezone.localdate()
    start = today - dt.timedelta(days=30)
    since = dt.datetime.combine(start, dt.time(0), tzinfo=zone) - dt.timedelta(days=services.SEND_LOOKBACK_DAYS)
    rows: list[dict[str, Any]] = []

    def measure(label: str, fn: Callable[[], Any], repeat: int = args.repeat) -> None:
        cpu: list[float] = []
        samples = _time(fn, repeat, cpu)
        with CaptureQueriesContext(connection) as ctx:
            fn()
        rows.append(
            {
                "what": label,
                **_stats(samples),
                "python cpu p50 ms": round(statistics.median(cpu) * 1000, 1),
                "queries": len(ctx.captured_queries),
            }
        )

    def window_count() -> Any:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM delivery_delivery WHERE sent_at >= now() - interval '30 days'")
            return cursor.fetchone()

    measure("baseline: count(*) of deliveries sent in 30 days", window_count, 5)
    measure(
        "baseline: live 30-day aggregate (engagement_by_day)",
        lambda: overview_selectors.engagement_by_day(start=start, end=today, zone=zone, sends_since=since),
        5,
    )
    measure("refresh the daily pre-aggregate (worker)", lambda: services.daily_stats_refresh(), 3)
    measure("section: what sends next", lambda: selectors.next_sends(user=user, now=timezone.now()))
    measure("section: sending now", lambda: selectors.sending_now(user=user))
    measure("section: recently finished (rates)", lambda: selectors.recently_finished(user=user))
    measure("section: last 30 days (pre-aggregated)", lambda: selectors.last_days(now=timezone.now()))
    measure("section: revenue of the window (stored reports)", lambda: selectors.period_revenue(now=timezone.now()))

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    def get(url: str) -> Callable[[], None]:
        def fetch() -> None:
            response = client.get(url)
            assert response.status_code == 200, response.status_code

        return fetch

    measure("baseline page: notifications (login, middleware, base template)", get("/accounts/notifications/"))
    measure("page: dashboard /", get("/"))
    measure("page: sending-now fragment (polled)", get("/dashboard/sending/"))
    measure("page: period, last 30 days (sends behind the totals)", get("/dashboard/period/?days=30"))
    measure("page: period, by opens", get("/dashboard/period/?days=30&metric=opened"))
    # The calendar month: this month (the runs so far and the next firings of every automation) and the previous
    # one (a month of runs), against the computation before the calendar fix (bench/_calendar_before.py) on the
    # same rows; both must draw the same grid.
    from bench._calendar_before import build_agenda_before, grid
    from dashboard.agenda import build_agenda

    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=15)
    for label, anchor in (("this month", today), ("previous month", last_month)):
        fixed = timezone.now()
        after = build_agenda(user=user, view="month", anchor=anchor, now=fixed)
        before = build_agenda_before(user=user, view="month", anchor=anchor, now=fixed)
        assert grid(after) == grid(before), f"calendar {label}: the grids differ"
        measure(
            f"baseline: calendar {label}, agenda as before the fix",
            partial(build_agenda_before, user=user, view="month", anchor=anchor),
            max(5, args.repeat // 2),
        )
        measure(
            f"calendar {label}, agenda",
            partial(build_agenda, user=user, view="month", anchor=anchor),
            max(5, args.repeat // 2),
        )
    measure("page: calendar month", get("/calendar/"), max(5, args.repeat // 2))
    measure("page: calendar previous month", get(f"/calendar/?date={last_month.isoformat()}"), max(5, args.repeat // 2))
    measure("page: calendar week", get("/calendar/?view=week"), max(3, args.repeat // 4))

    opened = {"op": "and", "conditions": [{"engagement": {"kind": "opened", "within_days": 30}}]}

    def rules_count() -> int:
        return Contact.objects.filter(compile_rules(opened)).count()

    def hand_count() -> Any:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM contacts_contact c WHERE EXISTS (SELECT 1 FROM delivery_delivery d "
                "WHERE d.contact_id = c.id AND d.opened_at >= now() - interval '30 days')"
            )
            return cursor.fetchone()

    assert rules_count() == hand_count()[0]
    measure("segment: opened in 30 days, hand-written SQL", hand_count, 5)
    measure("segment: opened in 30 days, rules condition", rules_count, 5)

    page = next(r["p50 ms"] for r in rows if r["what"] == "page: dashboard /")
    month = next(r["p50 ms"] for r in rows if r["what"] == "page: calendar month")
    print_table(
        f"Dashboard: {args.deliveries:,} deliveries in {args.sends} sends over 30 days, {args.automations:,} "
        f"automations, {args.enrollments:,} enrollments (load average now {os.getloadavg()[0]:.2f})",
        rows,
    )
    print(f"\ndashboard p50 {page:.0f} ms (target <= 200 ms): {'PASS' if page <= 200 else 'FAIL'}")
    print(f"calendar month p50 {month:.0f} ms (target <= 200 ms): {'PASS' if month <= 200 else 'FAIL'}")
    del now


def _drop(db_name: str) -> None:
    import psycopg
    from psycopg import sql

    admin = database_url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name)))


if __name__ == "__main__":
    main()
