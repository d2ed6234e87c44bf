"""Journeys (issue 16): 1M enrollments due in the same minute, the idle tick at 10M waiting, a funnel event to the
first email. Runs in its own database (default herald_h5_bench), generated set-based, dropped at the end.

    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python -m bench journeys            # every part (make bench BENCH=journeys)
    ... -m bench journeys --only due --due 1000000
    ... -m bench journeys --only idle --waiting 10000000 --keep

idle (this process, no worker): the tick's claim query (`_claim`: due enrollments of active journeys, FOR UPDATE
  SKIP LOCKED, ORDER BY next_at LIMIT batch) and the whole journeys tick hook, timed; baseline: the same with no
  enrollment at all, first, in the same run; then with `--waiting` enrollments none of which is due, with the plan
  (EXPLAIN ANALYZE, BUFFERS) printed for docs/journeys.md.

due (a real prefork worker and a real beat, the `resend` SDK against bench/fake_resend.py): `--due` contacts
  enrolled in a 3-step journey (send, wait 3 days, send), every enrollment due at the same instant. Measured: from
  the due instant until every one of them has its Delivery row (handed to the engine's send), the lateness of the
  scheduler tick meanwhile (gaps between the tick heartbeats beyond SCHEDULER_TICK_SECONDS), and the RSS of worker +
  beat at the start, the middle and the end. Baseline, same run: one Send of the same 1M audience snapshotted by the
  engine itself (`send_start`, one set-based INSERT ... SELECT).

api (worker + beat as above): `--trials` funnel events POSTed through the API (`/api/v1/events`, in-process WSGI)
  for contacts an event-triggered journey is waiting for, each timed from the POST to its first email at the fake
  server. Baseline, same run: a scenario sent now through the API (`POST /scenarios/{id}/send`) to one contact.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from bench._common import ROOT, database_url, print_table, setup_django

DB = os.environ.get("BENCH_JOURNEYS_DB", "herald_h5_bench")
BODY = '<p>Hi {{ first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def _sql(statement: str, params: list[Any] | None = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return cursor.fetchall() if cursor.description else cursor.rowcount


def _contacts(count: int) -> None:
    have = _sql("SELECT count(*) FROM contacts_contact WHERE email LIKE 'jb%%'")[0][0]
    if have < count:
        started = time.perf_counter()
        _sql(
            """INSERT INTO contacts_contact (email, first_name, last_name, mobile, status, created_at, updated_at)
               SELECT 'jb' || g || '@example.com', 'F' || g, '', '', 'subscribed', now(), now()
               FROM generate_series(%s, %s) g ON CONFLICT DO NOTHING""",
            [have + 1, count],
        )
        _sql("ANALYZE contacts_contact")
        print(f"{count - have:,} contacts in {time.perf_counter() - started:.1f} s", flush=True)


def _journey(name: str, trigger: dict[str, Any], *, wait_minutes: int = 3 * 1440, check: bool = True) -> Any:
    from automations import journeys
    from templates_app.models import MessageTemplate

    t1, t2 = (
        MessageTemplate.objects.create(
            name=f"{name} {i}", channel="email", templating_type="html", subject=f"{name} {i}", message=BODY
        )
        for i in (1, 2)
    )
    journey = journeys.journey_create(
        name=name,
        trigger=trigger,
        timezone="UTC",
        steps=[
            {"key": "s1", "type": "send", "template": t1.pk},
            {"key": "w1", "type": "wait", "minutes": wait_minutes},
            {"key": "s2", "type": "send", "template": t2.pk},
        ],
    )
    if check:
        journeys.journey_activate(journey_id=journey.pk)
    else:  # bench data only: the activation's template check reads every contact (a minute at 1M, loaded)
        type(journey).objects.filter(pk=journey.pk).update(status="active")
    return journey


def _enroll(journey_id: int, count: int, next_at_sql: str, step: str = "s1", ran: bool = False) -> float:
    """`count` enrollments of the first `count` bench contacts, set-based; returns the seconds it took."""
    started = time.perf_counter()
    _sql(
        f"""INSERT INTO automations_enrollment (journey_id, contact_id, step_key, visit, step_ran, next_at, status,
               reason, trigger_key, entered_at)
            SELECT %s, c.id, %s, 1, %s, {next_at_sql}, 'active', '', '', now()
            FROM (SELECT id FROM contacts_contact WHERE email LIKE 'jb%%' ORDER BY id LIMIT %s) c""",
        [journey_id, step, ran, count],
    )
    _sql("ANALYZE automations_enrollment")
    return time.perf_counter() - started


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50 ms": statistics.median(ordered) * 1000,
        "p95 ms": ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000,
        "max ms": ordered[-1] * 1000,
    }


# --- idle ----------------------------------------------------------------------------------------------------------


def _claim_sql() -> tuple[str, list[Any]]:
    from django.utils import timezone

    from automations.journey_engine import DEFAULT_BATCH, E, J
    from automations.journey_models import Enrollment

    qs = (
        Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=E.ACTIVE, next_at__lte=timezone.now(), journey__status=J.ACTIVE)
        .order_by("next_at")[:DEFAULT_BATCH]
    )
    sql, params = qs.query.sql_with_params()
    return sql, list(params)


def _time_idle(label: str, waiting: int, repeat: int) -> list[dict[str, Any]]:
    from django.db import transaction

    from automations import journeys

    def claim() -> float:
        started = time.perf_counter()
        with transaction.atomic():
            sql, params = _claim_sql()
            rows = _sql(sql, params)
        assert not rows, "something is due"
        return time.perf_counter() - started

    def tick() -> float:
        started = time.perf_counter()
        journeys.journeys_tick()
        return time.perf_counter() - started

    claim()
    return [
        {"enrollments waiting": waiting, "measure": f"{label}: claim query", **_ms([claim() for _ in range(repeat)])},
        {
            "enrollments waiting": waiting,
            "measure": f"{label}: journeys tick hook",
            **_ms([tick() for _ in range(repeat)]),
        },
    ]


def part_idle(waiting: int, repeat: int) -> None:
    from django.db import transaction

    _sql("TRUNCATE automations_enrollment CASCADE")
    rows = _time_idle("baseline, empty table", 0, repeat)
    per = 1_000_000
    _contacts(min(waiting, per))
    started = time.perf_counter()
    for i in range(max(1, waiting // per)):
        journey = _journey(f"idle {i}", {"type": "api"}, check=False)
        # Resting on the wait, due from 1 hour to 30 days from now: none due during the run.
        _enroll(
            journey.pk,
            min(per, waiting),
            "now() + interval '1 hour' + (random() * interval '30 days')",
            step="w1",
            ran=True,
        )
        print(f"{(i + 1) * min(per, waiting):,} waiting after {time.perf_counter() - started:.0f} s", flush=True)
    _sql("VACUUM ANALYZE automations_enrollment")
    total = _sql("SELECT count(*) FROM automations_enrollment WHERE status = 'active'")[0][0]
    rows += _time_idle("waiting, none due", total, repeat)
    print_table(f"Idle tick with {total:,} enrollments waiting (load {_loadavg()})", rows)
    with transaction.atomic():
        sql, params = _claim_sql()
        plan = _sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the claim query:")
    print("\n".join(row[0] for row in plan))


# --- due: 1M in the same minute --------------------------------------------------------------------------------------


def _beat() -> subprocess.Popen[bytes]:
    log = open(f"/tmp/h5-bench-beat-{os.getpid()}.log", "wb")  # noqa: SIM115 (lives with the process)
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "beat",
        "--loglevel=INFO",
        f"--pidfile=/tmp/h5-beat-{os.getpid()}.pid",
    ]
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _rss_mb(pids: list[int]) -> float:
    from bench.procs import memory_kb

    return memory_kb(pids).rss / 1024


def _tick_gaps(seen: list[dt.datetime], interval: float) -> dict[str, float]:
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen)]
    late = [max(0.0, g - interval) for g in gaps] or [0.0]
    return {"ticks": len(seen), "late p50 s": statistics.median(late), "late max s": max(late)}


def _worker_log_counts(log: Any, offset: int) -> dict[str, int]:
    """The delivery watchdog's re-enqueues the worker logged (WARNING) during the run."""
    with open(log, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    pages = [int(m.group(1)) for m in map(re.compile(r"stalled, re-enqueued (\d+) pages").search, lines) if m]
    return {
        # Celery logs a tick dropped after its expiry at INFO ("Discarding revoked task"), hidden at this level.
        "watchdog re-enqueues": len(pages),
        "pages re-enqueued": sum(pages),
    }


def part_due(count: int, concurrency: int) -> None:
    from django.conf import settings

    from automations import journeys
    from bench._send_data import purge_broker
    from bench.procs import Fake, Workers, kill_groups, process_tree
    from delivery import services as delivery_services
    from scheduler.models import Heartbeat

    # Created and activated before the contacts exist: the activation's template check reads the audience.
    journey = _journey("due", {"type": "api"})
    _contacts(count)
    _sql("TRUNCATE automations_enrollment CASCADE")
    _sql("TRUNCATE delivery_delivery, delivery_send CASCADE")
    purge_broker()

    # Baseline: the engine snapshots the same audience as ONE send.
    started = time.perf_counter()
    send = delivery_services.send_create(label="baseline", subject="b", body_html=BODY)
    from contacts.models import Contact

    audience = Contact.objects.filter(email__startswith="jb").order_by().values_list("id", flat=True)[:count]
    snap = delivery_services.send_start(send_id=send.pk, audience=Contact.objects.filter(pk__in=audience).values("pk"))
    baseline_s = time.perf_counter() - started
    delivery_services.send_cancel(send_id=send.pk, reason="bench baseline")
    _sql("TRUNCATE delivery_delivery, delivery_send CASCADE")
    purge_broker()

    fake = Fake()
    fake.reset()
    workers = Workers(fake, concurrency)
    log_from = workers.log.stat().st_size if workers.log.exists() else 0
    workers.start()
    beat = _beat()
    try:
        # Writing 1M rows takes longer than a minute here, and rows are claimable only once committed: the journey
        # is paused while they are written (all due at the same instant), and the clock starts when it resumes.
        journeys.journey_pause(journey_id=journey.pk)
        enroll_s = _enroll(journey.pk, count, "now()")
        print(f"{count:,} enrollments due at the same instant written in {enroll_s:.1f} s", flush=True)
        time.sleep(5)  # beat's first ticks
        journeys.journey_activate(journey_id=journey.pk)
        due_at = time.time()
        memory = {"start": _rss_mb(workers.pids() + process_tree(beat.pid))}
        seen: list[dt.datetime] = []
        handed, handed_at, samples = 0, None, 0
        while time.time() < due_at + 900:
            hb = Heartbeat.objects.filter(name="tick").values_list("seen_at", flat=True).first()
            if hb and (not seen or hb != seen[-1]):
                seen.append(hb)
            samples += 1
            if samples % 10 == 0:
                # The Sends' totals (each is its committed Delivery rows): a count(*) of up to 1M rows every 2 s
                # was load of its own on the two cores; the rows themselves are counted once at the end.
                handed = _sql("SELECT coalesce(sum(total), 0) FROM delivery_send WHERE label LIKE 'Journey: due%%'")[0][
                    0
                ]
                if handed >= count // 2 and "middle" not in memory:
                    memory["middle"] = _rss_mb(workers.pids() + process_tree(beat.pid))
                if handed >= count:
                    handed_at = time.time()
                    break
            time.sleep(0.2)
        memory["end"] = _rss_mb(workers.pids() + process_tree(beat.pid))
        rows_written, contacts = _sql(
            "SELECT count(*), count(DISTINCT d.contact_id) FROM delivery_delivery d"
            " JOIN delivery_send s ON s.id = d.send_id WHERE s.label LIKE 'Journey: due%%'"
        )[0]
        print(f"Delivery rows of the journey's first step: {rows_written:,} for {contacts:,} contacts", flush=True)
        during = [s for s in seen if s.timestamp() >= due_at - 1]
        rows: list[dict[str, Any]] = [
            {"measure": "baseline: one Send of the same audience (send_start)", "seconds": baseline_s, "rows": snap},
            {
                "measure": "journeys: due -> every enrollment's Delivery row",
                "seconds": (handed_at - due_at) if handed_at else f"> {time.time() - due_at:.0f} (not done)",
                "rows": handed,
            },
        ]
        print_table(
            f"{count:,} enrollments due in the same minute (concurrency {concurrency}, load {_loadavg()})", rows
        )
        print_table(
            "The scheduler tick meanwhile (heartbeat gaps beyond SCHEDULER_TICK_SECONDS)",
            [_tick_gaps(during, float(settings.SCHEDULER_TICK_SECONDS))],
        )
        print_table("The worker's log meanwhile", [_worker_log_counts(workers.log, log_from)])
        print_table(
            "RSS of worker (all processes) + beat, MB",
            [
                {"moment": k, "MB": round(v, 1), "vs start": f"{(v / memory['start'] - 1) * 100:+.1f} %"}
                for k, v in memory.items()
            ],
        )
    finally:
        workers.kill()
        kill_groups([beat])
        fake.stop()
        purge_broker()


# --- api: a funnel event to the first email ----------------------------------------------------------------------


def part_api(trials: int, concurrency: int) -> None:
    from django.conf import settings
    from django.test import Client

    from bench._send_data import purge_broker
    from bench.procs import Fake, Workers, kill_groups

    _contacts(trials + 10)
    purge_broker()
    _journey("api", {"type": "event", "to_stage": "bench_signed_up"})
    token = _manager_token()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the in-process client's host
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    scenario_ids = _scenarios(trials)
    fake = Fake()
    workers = Workers(fake, concurrency)
    workers.start()
    beat = _beat()
    try:
        time.sleep(5)
        journey_s, scenario_s = [], []
        ids = list(_sql("SELECT id FROM contacts_contact WHERE email LIKE 'jb%%' ORDER BY id LIMIT %s", [trials]))
        for (contact_id,), scenario_id in zip(ids, scenario_ids, strict=True):
            fake.reset()
            posted = time.time()
            body = {
                "contact_id": contact_id,
                "funnel_type": "sales",
                "from_stage": "lead",
                "to_stage": "bench_signed_up",
            }
            assert client.post("/api/v1/events", body, content_type="application/json").status_code in (200, 201)
            journey_s.append(_first_request(fake, posted))
            fake.reset()
            posted = time.time()
            assert (
                client.post(
                    f"/api/v1/scenarios/{scenario_id}/send", {"at": None}, content_type="application/json"
                ).status_code
                < 300
            )
            scenario_s.append(_first_request(fake, posted))
        rows = [
            {"path": "baseline: POST /scenarios/{id}/send (now) -> first request", **_s(scenario_s)},
            {"path": "POST /events -> journey's first email at the server", **_s(journey_s)},
        ]
        print_table(f"Funnel event to first email, {trials} trials (load {_loadavg()})", rows)
    finally:
        workers.kill()
        kill_groups([beat])
        fake.stop()
        purge_broker()


def _s(samples: list[float]) -> dict[str, float]:
    return {"p50 s": statistics.median(samples), "max s": max(samples)}


def _first_request(fake: Any, since: float, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        first = fake.ledger()["first_request_at"]
        if first is not None:
            return float(first) - since
        time.sleep(0.02)
    raise TimeoutError("no email reached the fake server")


def _manager_token() -> str:
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from accounts import roles

    user, _ = User.objects.get_or_create(username="bench-manager", defaults={"email": "bench-manager@example.com"})
    user.groups.add(Group.objects.get(name=roles.CAMPAIGN_MANAGER))
    token, _ = Token.objects.get_or_create(user=user)
    return str(token.key)


def _scenarios(count: int) -> list[int]:
    """`count` draft scenarios of one campaign whose batch holds one bench contact each time (the baseline)."""
    from django.utils import timezone

    from campaigns.models import Campaign, Scenario
    from contacts.models import Batch, BatchMember, Contact

    today = timezone.localdate()
    batch = Batch.objects.create(name="bench journeys api")
    BatchMember.objects.create(batch=batch, contact=Contact.objects.filter(email__startswith="jb").latest("id"))
    campaign = Campaign.objects.create(
        name="bench journeys api", start_date=today, end_date=today, batch=batch, status=Campaign.Status.ACTIVE
    )
    return [
        Scenario.objects.create(
            campaign=campaign, subject=f"Base {i}", content="Hello", send_date=today, send_time=dt.time(23, 59)
        ).pk
        for i in range(count)
    ]


def _drop_database() -> None:
    import psycopg

    if "django" in sys.modules and hasattr(sys.modules["django"], "apps"):
        from django.db import connections

        connections.close_all()
    admin = database_url("postgres").replace("postgresql", "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    print(f"dropped {DB}")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench journeys", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["idle", "due", "api"], action="append")
    parser.add_argument("--due", type=int, default=1_000_000, help="enrollments due in the same minute")
    parser.add_argument("--waiting", type=int, default=10_000_000, help="enrollments waiting for the idle tick")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=50, help="idle tick timings")
    parser.add_argument("--concurrency", type=int, default=3, help="worker processes (prefork)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    parts = args.only or ["api", "due", "idle"]
    _drop_database()  # a fresh database: nothing left over from an earlier run is due
    setup_django(DB)
    print(f"database {DB}; load average at start {_loadavg()}", flush=True)
    try:
        if "api" in parts:
            part_api(args.trials, args.concurrency)
        if "due" in parts:
            part_due(args.due, args.concurrency)
        if "idle" in parts:
            part_idle(args.waiting, args.repeat)
    finally:
        if not args.keep:
            _drop_database()


if __name__ == "__main__":
    main(sys.argv[1:])
