"""Due time -> first request at the server, through the scheduler (ARCHITECTURE §6: p50 <= 1 s, max <= 2 s).

    make bench BENCH="due --trials 20 --busy 10000"           # the settings as they are
    make bench BENCH="due --trials 20 --busy 10000 --routed"  # plus scheduler.routing

Real processes: `celery beat` (DatabaseScheduler, the tick every SCHEDULER_TICK_SECONDS written by
`sync_schedule`) and a `celery worker` (prefork, 2), the `resend` SDK against bench/fake_resend.py. Each trial
plans one 100-recipient scenario whose Emailer is due a few seconds ahead and measures its due time to the
first request the server sees.

- baseline: the same scenario started in this process at its due time (`emailer_run`, no beat, no tick), i.e.
  the engine's own latency; the scheduler's cost is the difference.
- idle: through beat + tick + worker, nothing else queued.
- busy: the same while another send of `--busy` recipients (200 ms server latency) fills the queue, which
  shows what a tick waits for when it shares the worker's queue with page tasks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, print_table, setup_django
from bench.procs import kill_groups

DB_NAME = "herald_campaigns_bench"
AUDIENCE = 100
LEAD_SECONDS = 3.0
PROBE = "due1@example.com"  # one recipient of every trial's page
BUSY_LATENCY = 0.2


class Processes:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = Path("/tmp") / f"herald-bench-due-{os.getpid()}.log"

    def start(self, *args: str, ready: bytes | None = None) -> None:
        out = self.log.open("ab")
        start = self.log.stat().st_size
        cmd = [sys.executable, "-m", "celery", "-A", "config", *args]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while ready and time.monotonic() < deadline:
            with self.log.open("rb") as f:
                f.seek(start)
                if ready in f.read():
                    return
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} died: see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        kill_groups(self.procs)
        self.procs = []


def _purge_broker() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [k for pattern in ("celery*", "unacked*", "_kombu*", "herald:rate:*") for k in client.scan_iter(pattern)]
    if keys:
        client.delete(*keys)


def _contacts(prefix: str, count: int) -> Any:
    from django.db import connection

    from contacts.models import Contact

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO contacts_contact (email, first_name, last_name, mobile, status, created_at, updated_at)
            SELECT %s || g || '@example.com', 'First' || g, '', '', 'subscribed', now(), now()
            FROM generate_series(1, %s) g
            ON CONFLICT DO NOTHING
            """,
            [prefix, count],
        )
    return Contact.objects.filter(email__startswith=prefix).values("pk")


def _campaign(name: str, prefix: str, count: int) -> Any:
    from django.db import connection

    from campaigns import services

    today = dt.datetime.now(tz=dt.UTC).date()
    campaign = services.campaign_create(
        name=name, start_date=today - dt.timedelta(days=1), end_date=today + dt.timedelta(days=2), timezone="UTC"
    )
    _contacts(prefix, count)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO contacts_batchmember (batch_id, contact_id, added_at) "
            "SELECT %s, id, now() FROM contacts_contact WHERE email LIKE %s",
            [campaign.batch_id, f"{prefix}%"],
        )
    return campaign


def _plan_due(campaign: Any, due: dt.datetime) -> int:
    """A scenario of `campaign` whose Emailer is due at `due` (seconds precision, unlike the minute of send_time)."""
    from campaigns import services
    from campaigns.models import Emailer

    later = (due + dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    scenario = services.scenario_create(
        campaign=campaign, subject="Due {{ first_name }}", content="Hi", send_date=later.date(), send_time=later.time()
    )
    services.emailer_plan(scenario=scenario, scheduled_at=due)
    return Emailer.objects.get(scenario=scenario).pk


def _first_request(fake: Any, latency: float = 0.0, timeout: float = 60.0) -> float:
    """When the server first saw this trial's recipients: their acceptance, less the injected latency.

    Watched per recipient (not the ledger's first request), since in the busy mode another send is talking
    to the server all along.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with fake.ledger.lock:
            seen = fake.ledger.counts.get(PROBE, 0)
        if seen:
            return time.time() - latency
        time.sleep(0.002)
    raise RuntimeError("no request reached the server")


def _stats(name: str, samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "mode": name,
        "trials": len(samples),
        "p50 s": statistics.median(ordered),
        "p90 s": ordered[max(0, round(0.9 * len(ordered)) - 1)],
        "max s": ordered[-1],
        "target": "p50 <= 1, max <= 2" if name != "baseline" else "engine only",
        "claim p50 s": "",
        "claim max s": "",
    }


def _setup_with(module: str) -> None:
    import django
    from django.core.management import call_command

    from bench import _common

    url = _common.database_url(DB_NAME)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    _common._create_database_if_missing(url)
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench due")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--busy", type=int, default=20000, help="recipients of the background send (0: skip)")
    parser.add_argument(
        "--routed", action="store_true", help="with scheduler.routing (tail pages one priority step down)"
    )
    parser.add_argument("--settings", default="", help="another settings module for this process and the workers")
    parser.add_argument(
        "--first-rows",
        type=int,
        default=100,
        help="DELIVERY_SNAPSHOT_FIRST_ROWS of this process and the workers (production's default 100; 0: one part)",
    )
    args = parser.parse_args(argv)
    os.environ["DELIVERY_SNAPSHOT_FIRST_ROWS"] = str(args.first_rows)

    if args.routed or args.settings:
        _setup_with(args.settings or "bench._due_settings")
    else:
        setup_django(DB_NAME)
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from bench.fake_resend import FakeResend
    from campaigns import services
    from campaigns.models import Emailer
    from delivery import services as delivery_services
    from scheduler import services as scheduler_services

    if not settings.REDIS_URL:
        raise SystemExit("set REDIS_URL (make bench does)")
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE campaigns_emailer, campaigns_scenario, campaigns_campaign, contacts_batchmember, "
            "delivery_delivery, delivery_send, scheduler_planrun CASCADE"
        )
    _purge_broker()
    fake = FakeResend().start()
    env = dict(os.environ)
    env.update(
        {
            "EMAIL_TRANSPORT": "resend",
            "RESEND_API_URL": fake.url,
            "RESEND_API_KEY": "re_bench",
            "RESEND_RATE_LIMIT": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    settings.RESEND_API_URL, settings.RESEND_API_KEY, settings.EMAIL_TRANSPORT = fake.url, "re_bench", "resend"
    settings.RESEND_RATE_LIMIT = 0
    scheduler_services.schedule_sync()
    # Today's plan has run, so the tick's catch-up does not re-plan the trials' Emailers to their scenario's minute.
    scheduler_services.plan_day(day=timezone.localdate())
    campaign = _campaign("bench due", "due", AUDIENCE)
    rows: list[dict[str, Any]] = []
    procs = Processes(env)
    try:
        # Baseline: the engine alone, started here at the due time.
        samples = []
        for _ in range(args.trials):
            with fake.ledger.lock:
                fake.ledger.reset()
            due = timezone.now() + dt.timedelta(seconds=0.5)
            emailer_id = _plan_due(campaign, due + dt.timedelta(days=1))  # never claimed by a tick
            time.sleep(max(0.0, (due - timezone.now()).total_seconds()))
            services.emailer_run(emailer_id=emailer_id)
            if not procs.procs:
                procs.start(
                    "worker",
                    "--pool=prefork",
                    "--concurrency=2",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-n",
                    f"bench-due-{os.getpid()}@%h",
                    ready=b" ready.",
                )
            samples.append(_first_request(fake) - due.timestamp())
        rows.append(_stats("baseline", samples[1:] or samples))  # the first includes the worker's start

        procs.start(
            "beat",
            "--scheduler",
            "scheduler.beat:HeraldScheduler",
            "-s",
            f"/tmp/herald-bench-beat-{os.getpid()}",
        )
        for mode in ("idle", "busy") if args.busy else ("idle",):
            if mode == "busy":
                fake.configure(latency_ms=BUSY_LATENCY * 1000)
                background = delivery_services.send_create(label="busy", subject="Busy", body_text="x")
                delivery_services.send_start(send_id=background.pk, audience=_contacts("busy", args.busy))
                time.sleep(2)
            samples, ticks = [], []
            for _ in range(args.trials):
                with fake.ledger.lock:
                    fake.ledger.reset()
                due = timezone.now() + dt.timedelta(seconds=LEAD_SECONDS)
                emailer_id = _plan_due(campaign, due)
                latency = BUSY_LATENCY if mode == "busy" else 0.0
                samples.append(_first_request(fake, latency) - due.timestamp())
                claimed = Emailer.objects.values_list("dispatched_at", flat=True).get(pk=emailer_id)
                ticks.append((claimed - due).total_seconds() if claimed else float("nan"))
                time.sleep(0.5)
            rows.append({**_stats(mode, samples), "claim p50 s": statistics.median(ticks), "claim max s": max(ticks)})
            if mode == "busy":
                delivery_services.send_cancel(send_id=background.pk)
    finally:
        procs.stop()
        _purge_broker()
        fake.stop()
    routing = "scheduler.routing" if settings.CELERY_TASK_ROUTES else "one FIFO queue"
    print_table(f"Due time -> first request at the server ({AUDIENCE}-recipient scenarios; {routing})", rows)


if __name__ == "__main__":
    main(sys.argv[1:])
