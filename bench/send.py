"""Send benchmark: real Celery workers, the real `resend` SDK, a local Resend-compatible server (bench/fake_resend.py).

    make bench BENCH="send"                       # everything, 100k recipients, 1M for the memory trial
    make bench BENCH="send --only throughput,rate --recipients 20000"

Use your own database and Redis db: DATABASE_URL=postgres://.../herald_delivery_bench REDIS_URL=redis://.../6.
Trials (each prints one row of the final table, with its target and the baseline measured in the same run):
  baseline    a bare SDK loop: `resend.Batch.send` of 100 personalised emails, one call after another
  throughput  N recipients, no rate limit, 2 KB personalised HTML: due -> last accepted call
  rate        RESEND_RATE_LIMIT=2 with 200 ms server latency: emails/s against the 200 emails/s ceiling
  latency     due -> first request at the server, 100-recipient sends, --trials times
  memory      peak summed RSS / PSS of web (gunicorn) + worker + beat and their children, sending --large
  kill        N recipients, SIGKILL every worker --kills times at random points, restart: duplicates / missing
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import celery_worker_cmd, kill_groups, process_tree

ROOT = Path(__file__).resolve().parent.parent
TRIALS = ("baseline", "throughput", "rate", "latency", "memory", "kill")

HTML = (
    '<!doctype html><html><body style="font-family:Arial,sans-serif">'
    "<h1>Hello {{ first_name }} {{ last_name }}</h1>"
    + "".join(
        f"<p>Paragraph {i}: our autumn update for {{{{ first_name }}}} — new features, fixes and a few words from the "
        "team about what is coming next quarter, written to be long enough to look like real content.</p>"
        for i in range(8)
    )
    + '<p><a href="https://example.org/offer?u={{ email|urlencode }}">See the offer</a></p>'
    "<p>Sent to {{ email }}.</p></body></html>"
)


# --- processes -----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fake:
    """bench/fake_resend.py in its own process (its own core), driven over HTTP."""

    def __init__(self, *, nagle: bool = False) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The fake server answers with TCP_NODELAY (bench/fake_resend.py); `nagle` brings back the ~40 ms
        # delayed-ACK stall per kept-alive request that Herald's pooled client paid before (measured: 49 ms per
        # 100-email call instead of 7 ms; the bare SDK loop opens a connection per call and never saw it).
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_resend", "--port", str(self.port), "--keep-messages", "0"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "FAKE_RESEND_NAGLE": "1" if nagle else "0"},
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.ledger()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("fake Resend did not start")

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def ledger(self) -> dict[str, Any]:
        return dict(self._call("/__ledger"))

    def reset(self, **knobs: Any) -> None:
        self._call("/__reset", {})
        defaults = {"latency_ms": 0.0, "rate_limit": 0.0, "error_rate": 0.0, "storm_429_rate": 0.0}
        self._call("/__config", {**defaults, **knobs})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Workers:
    def __init__(self, fake: Fake, concurrency: int, *, db_reuse: bool = False) -> None:
        self.fake = fake
        self.concurrency = concurrency
        self.app = "bench._celery_reuse" if db_reuse else "config"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log = Path("/tmp") / f"herald-bench-worker-{os.getpid()}.log"

    def start(self, **env: str) -> None:
        full = dict(os.environ)
        full.update(
            {
                "EMAIL_TRANSPORT": "resend",
                "RESEND_API_URL": self.fake.url,
                "RESEND_API_KEY": "re_bench",
                "RESEND_RATE_LIMIT": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        full.update(env)
        cmd = celery_worker_cmd(
            app=self.app, concurrency=self.concurrency, name=f"bench-{len(self.procs)}-{os.getpid()}@%h"
        )
        out = self.log.open("ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        start = self.log.stat().st_size
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.log.open("rb") as f:
                f.seek(start)
                if b" ready." in f.read():
                    return
            if proc.poll() is not None:
                raise RuntimeError(f"worker died: see {self.log}")
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready: see {self.log}")

    def kill(self) -> None:
        kill_groups(self.procs)
        self.procs = []

    def pids(self) -> list[int]:
        return [pid for proc in self.procs for pid in process_tree(proc.pid)]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes (children that already exited are not counted)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def _postgres_pids(database: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database])
        return [row[0] for row in cursor.fetchall()]


def _own_backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _memory_kb(pids: list[int]) -> tuple[int, int]:
    """Summed RSS and PSS (shared pages split between the prefork children) of the processes, in kB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


# --- data ----------------------------------------------------------------------------------------------------


def _setup_data(count: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE delivery_outboxmessage, delivery_delivery, delivery_send CASCADE")
        cursor.execute("SELECT count(*) FROM contacts_contact WHERE email LIKE 'bench%%'")
        have = cursor.fetchone()[0]
        if have < count:
            print(f"inserting {count - have} contacts ...", flush=True)
            cursor.execute(
                """
                INSERT INTO contacts_contact (email, first_name, last_name, mobile, status, created_at, updated_at)
                SELECT 'bench' || g || '@example.com', 'First' || g, 'Last' || g, '', 'subscribed', now(), now()
                FROM generate_series(%s, %s) g
                ON CONFLICT DO NOTHING
                """,
                [have + 1, count],
            )
            cursor.execute("ANALYZE contacts_contact")


def _audience(count: int) -> Any:
    from contacts.models import Contact

    ids = Contact.objects.filter(email__startswith="bench").order_by("pk").values_list("pk", flat=True)
    first = ids.first()
    assert first is not None
    return Contact.objects.filter(pk__gte=first, pk__lt=first + count, email__startswith="bench").values("pk")


def _emails(count: int) -> list[str]:
    return [f"bench{i}@example.com" for i in range(1, count + 1)]


def _purge_broker() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [k for pattern in ("celery*", "unacked*", "_kombu*", "herald:rate:*") for k in client.scan_iter(pattern)]
    if keys:
        client.delete(*keys)


def _start_send(count: int, label: str) -> tuple[int, float]:
    from delivery import services

    send = services.send_create(label=label, subject="News for {{ first_name }}", body_html=HTML)
    due = time.time()
    services.send_start(send_id=send.pk, audience=_audience(count))
    return send.pk, due


def _wait(cond: Callable[[], bool], timeout: float, tick: Callable[[], Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        if tick:
            tick()
        time.sleep(0.2)
    raise TimeoutError("benchmark step timed out")


def _send_done(send_id: int) -> bool:
    from delivery.models import Send

    return Send.objects.filter(pk=send_id, status=Send.Status.DONE).exists()


# --- trials --------------------------------------------------------------------------------------------------


def trial_baseline(fake: Fake, count: int) -> dict[str, Any]:
    """A bare SDK loop: personalise with str.replace, one Batch.send per 100 emails, the SDK's default client."""
    import resend
    from resend.http_client_requests import RequestsClient

    fake.reset()
    resend.api_key, resend.api_url = "re_bench", fake.url
    resend.default_http_client = RequestsClient()
    html = HTML.replace("{{ last_name }}", "Last").replace("{{ email|urlencode }}", "x")
    started = time.time()
    emails = _emails(count)
    for i in range(0, count, 100):
        resend.Batch.send(
            [
                {
                    "from": "Herald <herald@example.com>",
                    "to": [e],
                    "subject": "News",
                    "html": html.replace("{{ first_name }}", e).replace("{{ email }}", e),
                }
                for e in emails[i : i + 100]
            ]
        )
    elapsed = fake.ledger()["last_accepted_at"] - started
    return {"seconds": elapsed, "emails": count}


def trial_throughput(fake: Fake, workers: Workers, count: int) -> dict[str, Any]:
    from django.conf import settings

    fake.reset()
    workers.start()
    time.sleep(1)  # let the pool children finish booting, so their start-up CPU is not counted below
    fake_cpu, worker_cpu = _cpu_seconds([fake.proc.pid]), _cpu_seconds(workers.pids())
    # The snapshot runs in this process, on its own connection: its backend's CPU is counted apart.
    own_backend = _own_backend_pid()
    snapshot_cpu = _cpu_seconds([own_backend])
    send_id, due = _start_send(count, "throughput")
    _wait(lambda: _send_done(send_id), timeout=600)
    ledger = fake.ledger()
    # Where the CPU went (the machine may be shared: wall time alone does not say whose cores were busy).
    cpu = {
        "workers": _cpu_seconds(workers.pids()) - worker_cpu,
        "postgres": _cpu_seconds(_postgres_pids(settings.DATABASES["default"]["NAME"])),
        "postgres (snapshot)": (
            _cpu_seconds([own_backend]) - snapshot_cpu if _own_backend_pid() == own_backend else float("nan")
        ),
        "fake_server": _cpu_seconds([fake.proc.pid]) - fake_cpu,
    }
    workers.kill()
    from bench.fake_resend import ledger_report

    report = ledger_report(ledger["counts"], _emails(count))
    return {
        "seconds": ledger["last_accepted_at"] - due,
        "first": ledger["first_request_at"] - due,
        "cpu": cpu,
        **report,
    }


def trial_rate(fake: Fake, workers: Workers, count: int) -> dict[str, Any]:
    fake.reset(latency_ms=200, rate_limit=2)
    workers.start(RESEND_RATE_LIMIT="2")
    send_id, due = _start_send(count, "rate")
    _wait(lambda: _send_done(send_id), timeout=count / 100 + 120)
    ledger = fake.ledger()
    workers.kill()
    from bench.fake_resend import ledger_report

    report = ledger_report(ledger["counts"], _emails(count))
    steady = (count - 100) / (ledger["last_accepted_at"] - ledger["first_accepted_at"])
    overall = count / (ledger["last_accepted_at"] - due)
    return {"steady": steady, "overall": overall, "429": ledger["stats"].get("429", 0), **report}


def trial_latency(fake: Fake, workers: Workers, trials: int) -> dict[str, Any]:
    workers.start()
    samples = []
    for _ in range(trials):
        fake.reset()
        time.sleep(random.uniform(0.2, 0.6))
        send_id, due = _start_send(100, "latency")
        _wait(lambda: fake.ledger()["first_request_at"] is not None, timeout=30)
        samples.append(fake.ledger()["first_request_at"] - due)
        _wait(lambda send_id=send_id: _send_done(send_id), timeout=30)  # type: ignore[misc]
    workers.kill()
    return {"p50": statistics.median(samples), "max": max(samples), "samples": samples}


class Stack:
    """Herald as it runs in production: gunicorn `config.wsgi`, a Celery worker and Celery beat (the
    DatabaseScheduler of `CELERY_BEAT_SCHEDULER`), all three with `config.settings.production`."""

    NAMES = ("web", "worker", "beat")

    def __init__(
        self,
        fake: Fake,
        *,
        concurrency: int,
        web_workers: int,
        max_memory_per_child: int,
        preload: bool,
        embedded_beat: bool = False,
        pool: str = "prefork",
    ) -> None:
        self.fake = fake
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        celery = [sys.executable, "-m", "celery", "-A", "config"]
        # prefork: one process per concurrent task (throughput); threads: one process for all of them (memory).
        worker = [*celery, "worker", f"--pool={pool}", f"--concurrency={concurrency}", "--loglevel=INFO"]
        if max_memory_per_child:
            worker.append(f"--max-memory-per-child={max_memory_per_child}")
        if embedded_beat:  # beat as a process forked from the worker (`-B`): one deployment, no beat of its own
            worker.append("-B")
        web = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            f"--workers={web_workers}",
            f"--bind=127.0.0.1:{self.port}",
        ]
        if preload:
            web.append("--preload")
        self.commands = {"web": web, "worker": worker}
        if not embedded_beat:
            pidfile = f"--pidfile=/tmp/herald-bench-beat-{os.getpid()}.pid"
            self.commands["beat"] = [*celery, "beat", "--loglevel=INFO", pidfile]
        self.names = tuple(self.commands)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = {name: Path("/tmp") / f"herald-bench-{name}-{os.getpid()}.log" for name in self.names}

    def describe(self) -> str:
        return "; ".join(" ".join(cmd[2:] if cmd[1] == "-m" else cmd) for cmd in self.commands.values())

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.production",
                "DJANGO_SECRET_KEY": "bench-only-not-a-secret",
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DJANGO_SECURE_COOKIES": "0",
                "EMAIL_TRANSPORT": "resend",
                "RESEND_API_URL": self.fake.url,
                "RESEND_API_KEY": "re_bench",
                "RESEND_RATE_LIMIT": "0",
                "LOG_LEVEL": "WARNING",
            }
        )
        for name in self.names:
            log = self.logs[name].open("wb")
            self.procs[name] = subprocess.Popen(
                self.commands[name], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 90
        ready: set[str] = set()
        while ready != set(self.names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready: {set(self.names) - ready}; see {self.logs}")
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} died: see {self.logs[name]}")
            text = {name: self.logs[name].read_bytes() for name in self.names}
            if b" ready." in text["worker"]:
                ready.add("worker")
            if "beat" in text and b"maxinterval" in text["beat"]:  # the banner (celery.beat logs at WARNING by default)
                ready.add("beat")
            try:
                urllib.request.urlopen(self.url + "/api/v1/scenarios", timeout=5).close()
                ready.add("web")
            except urllib.error.HTTPError:
                ready.add("web")  # 401 without a token: a gunicorn worker answered
            except OSError:
                pass
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        kill_groups(self.procs.values())  # whatever did not stop on SIGTERM
        self.procs = {}

    def pids(self) -> dict[str, list[int]]:
        """Each process and all its descendants (prefork children, gunicorn workers), read fresh from /proc."""
        return {name: process_tree(proc.pid) for name, proc in self.procs.items()}


def _bench_scenario(send_id: int) -> int:
    """A campaign scenario whose run is this send (as the tick would have dispatched it), so the web can serve
    its progress from `GET /api/v1/scenarios/<id>` while the send runs; beat's tick closes it when the send ends."""
    import datetime as dt

    from django.utils import timezone

    from campaigns.models import Campaign, Emailer, Scenario
    from contacts.models import Batch

    Campaign.objects.filter(name="bench-memory").delete()
    Batch.objects.filter(name="bench-memory").delete()
    now = timezone.now()
    batch = Batch.objects.create(name="bench-memory")
    campaign = Campaign.objects.create(name="bench-memory", start_date=now.date(), end_date=now.date(), batch=batch)
    scenario = Scenario.objects.create(
        campaign=campaign,
        subject="News",
        content=HTML,
        send_date=now.date(),
        send_time=(now - dt.timedelta(minutes=1)).time(),
        status=Scenario.Status.SENDING,
    )
    Emailer.objects.create(
        campaign=campaign,
        scenario=scenario,
        batch=batch,
        scheduled_at=now,
        dispatched_at=now,
        started_at=now,
        send_id=send_id,
    )
    return scenario.pk


def _viewer_token() -> str:
    from django.contrib.auth.models import Group, User
    from rest_framework.authtoken.models import Token

    from accounts import roles

    user, _ = User.objects.get_or_create(username="bench-viewer", defaults={"email": "bench-viewer@example.com"})
    user.groups.add(Group.objects.get(name=roles.VIEWER))
    token, _ = Token.objects.get_or_create(user=user)
    return str(token.key)


def trial_memory(fake: Fake, stack: Stack, count: int) -> dict[str, Any]:
    """Peak summed RSS and PSS of web + worker + beat (and every child) sampled every 0.5 s while sending."""
    from delivery import services
    from scheduler.services import schedule_sync

    fake.reset()
    schedule_sync()  # the beat entries (tick every SCHEDULER_TICK_SECONDS, daily plan) the DatabaseScheduler reads
    stack.start()
    time.sleep(2)  # let the prefork children and gunicorn workers finish booting
    peak: dict[str, Any] = {"rss": 0, "pss": 0, "at_rss": {}, "at_pss": {}, "own": {n: [0, 0] for n in stack.names}}
    polls: dict[str, Any] = {"ok": 0, "failed": 0, "last": None}
    samples = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            split = {name: _memory_kb(pids) for name, pids in stack.pids().items()}
            rss, pss = sum(v[0] for v in split.values()), sum(v[1] for v in split.values())
            samples[0] += 1
            if rss > peak["rss"]:
                peak["rss"], peak["at_rss"] = rss, split
            if pss > peak["pss"]:
                peak["pss"], peak["at_pss"] = pss, split
            for name, (r, p) in split.items():
                own = peak["own"][name]
                own[0], own[1] = max(own[0], r), max(own[1], p)
            stop.wait(0.5)

    def poll(scenario_id: int, token: str) -> None:
        url = f"{stack.url}/api/v1/scenarios/{scenario_id}"
        while not stop.is_set():
            request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    polls["last"] = json.loads(response.read()).get("progress")
                    polls["ok"] += 1
            except (OSError, ValueError):
                polls["failed"] += 1
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    send = services.send_create(label="memory", subject="News for {{ first_name }}", body_html=HTML)
    scenario_id = _bench_scenario(send.pk)
    poller = threading.Thread(target=poll, args=(scenario_id, _viewer_token()), daemon=True)
    poller.start()
    due = time.time()
    services.send_start(send_id=send.pk, audience=_audience(count))
    _wait(lambda: _send_done(send.pk), timeout=3600)
    time.sleep(3)  # a few more ticks and polls after the end
    stop.set()
    sampler.join()
    poller.join()
    ledger = fake.ledger()
    stack.stop()
    return {
        **peak,
        "samples": samples[0],
        "polls": polls,
        "seconds": ledger["last_accepted_at"] - due,
        "accepted": ledger["stats"].get("accepted", 0),
    }


def trial_kill(fake: Fake, workers: Workers, count: int, kills: int) -> dict[str, Any]:
    from bench.fake_resend import ledger_report
    from delivery import services
    from delivery.models import Send

    fake.reset(latency_ms=20)
    workers.start()
    send_id, due = _start_send(count, "kill")
    rng = random.Random(7)
    done_kills = 0
    while done_kills < kills:
        time.sleep(rng.uniform(0.5, 3.0))
        if _send_done(send_id):
            break
        workers.kill()
        done_kills += 1
        workers.start()
    _wait(lambda: _send_done(send_id), timeout=900, tick=lambda: services.watchdog(stale_after=10))
    ledger = fake.ledger()
    workers.kill()
    send = Send.objects.get(pk=send_id)
    report = ledger_report(ledger["counts"], _emails(count))
    return {
        "kills": done_kills,
        "seconds": ledger["last_accepted_at"] - due,
        "replays": ledger["stats"].get("replays", 0),
        "db_sent": send.sent,
        **report,
    }


# --- main ----------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000, help="audience of throughput and kill")
    parser.add_argument("--rate-recipients", type=int, default=6_000, help="audience of the 2 req/s trial")
    parser.add_argument("--large", type=int, default=1_000_000, help="audience of the memory trial")
    parser.add_argument("--trials", type=int, default=20, help="latency trials")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4, help="prefork children of the worker")
    parser.add_argument(
        "--db-reuse",
        action="store_true",
        help="keep database connections across tasks (CELERY_DB_REUSE_MAX, see bench/_celery_reuse.py)",
    )
    parser.add_argument("--memory-concurrency", type=int, default=2, help="worker concurrency in the memory trial")
    parser.add_argument(
        "--memory-pool", choices=("prefork", "threads"), default="prefork", help="worker pool in the memory trial"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers in the memory trial")
    parser.add_argument(
        "--max-memory-per-child", type=int, default=0, help="worker --max-memory-per-child (kB) in the memory trial"
    )
    parser.add_argument("--preload", action="store_true", help="gunicorn --preload in the memory trial")
    parser.add_argument("--embedded-beat", action="store_true", help="beat inside the worker (-B) in the memory trial")
    parser.add_argument(
        "--fake-nagle",
        action="store_true",
        help="run the fake server without TCP_NODELAY (~40 ms delayed-ACK stall per kept-alive request, the old default)",
    )
    parser.add_argument("--only", default=",".join(TRIALS), help=f"comma-separated subset of {', '.join(TRIALS)}")
    args = parser.parse_args(argv)
    only = [t.strip() for t in args.only.split(",") if t.strip()]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings

    if not settings.REDIS_URL or not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        raise SystemExit("the send benchmark needs DATABASE_URL=postgres://... and REDIS_URL")
    need = max(
        args.recipients if {"baseline", "throughput", "kill"} & set(only) else 0,
        args.rate_recipients if "rate" in only else 0,
        args.large if "memory" in only else 0,
        100,
    )
    _setup_data(need)
    _purge_broker()
    fake = Fake(nagle=args.fake_nagle)
    workers = Workers(fake, args.concurrency, db_reuse=args.db_reuse)
    rows: list[tuple[str, str, str, str]] = []
    try:
        base: dict[str, Any] | None = None
        if "baseline" in only or "throughput" in only:
            base = trial_baseline(fake, args.recipients)
            rows.append(
                (
                    f"baseline: bare SDK loop, {args.recipients:,} emails",
                    f"{base['seconds']:.1f} s ({args.recipients / base['seconds']:,.0f}/s)",
                    "",
                    "",
                )
            )
        if "throughput" in only:
            r = trial_throughput(fake, workers, args.recipients)
            ratio = f" = {r['seconds'] / base['seconds']:.2f} x baseline" if base else ""
            rows.append(
                (
                    f"send {args.recipients:,}, no rate limit, 2 KB HTML: due -> last accepted",
                    f"{r['seconds']:.1f} s ({args.recipients / r['seconds']:,.0f}/s){ratio}",
                    "<= 20 s",
                    f"dup {r['duplicates']} / missing {r['missing']}; first request at {r['first']:.1f} s; CPU s: "
                    + ", ".join(f"{k} {v:.1f}" for k, v in r["cpu"].items()),
                )
            )
        if "rate" in only:
            r = trial_rate(fake, workers, args.rate_recipients)
            rows.append(
                (
                    f"2 req/s, 200 ms latency, {args.rate_recipients:,} emails",
                    f"steady {r['steady']:.1f}/s ({r['steady'] / 2:.1f} %), due->end {r['overall']:.1f}/s",
                    ">= 95 % of 200/s",
                    f"429s {r['429']}, dup {r['duplicates']} / missing {r['missing']}",
                )
            )
        if "latency" in only:
            r = trial_latency(fake, workers, args.trials)
            rows.append(
                (
                    f"due -> first request, {args.trials} trials",
                    f"p50 {r['p50']:.3f} s, max {r['max']:.3f} s",
                    "p50 <= 1 s, max <= 2 s",
                    "",
                )
            )
        if "memory" in only:
            stack = Stack(
                fake,
                concurrency=args.memory_concurrency,
                web_workers=args.web_workers,
                max_memory_per_child=args.max_memory_per_child,
                preload=args.preload,
                embedded_beat=args.embedded_beat,
                pool=args.memory_pool,
            )
            try:
                r = trial_memory(fake, stack, args.large)
            finally:
                stack.stop()
            mb = 1024

            def split(at: dict[str, tuple[int, int]], i: int) -> str:
                return ", ".join(f"{name} {at[name][i] / mb:.0f}" for name in Stack.NAMES if name in at)

            last = r["polls"]["last"] or {}
            rows.append(
                (
                    f"peak memory of web + worker + beat, sending {args.large:,}",
                    f"RSS {r['rss'] / mb:.0f} MB, PSS {r['pss'] / mb:.0f} MB; "
                    f"sent {r['accepted']:,} in {r['seconds']:.0f} s",
                    "<= 400 MB",
                    f"at the RSS peak: {split(r['at_rss'], 0)}; at the PSS peak: {split(r['at_pss'], 1)}; "
                    f"{r['samples']} samples; progress polls {r['polls']['ok']} ok / {r['polls']['failed']} failed, "
                    f"last {last.get('sent')}/{last.get('total')} {last.get('status')}",
                )
            )
            print(f"memory stack: {stack.describe()}")
        if "kill" in only:
            r = trial_kill(fake, workers, args.recipients, args.kills)
            rows.append(
                (
                    f"SIGKILL all workers x{r['kills']} while sending {args.recipients:,}",
                    f"dup {r['duplicates']} / missing {r['missing']} (received {r['received']:,}, "
                    f"{r['replays']} replays, {r['seconds']:.0f} s)",
                    "0 / 0",
                    f"db sent {r['db_sent']:,}",
                )
            )
    finally:
        workers.kill()
        fake.stop()
    print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}")
    if set(only) - {"memory"}:
        print(
            f"worker: celery -A {workers.app} worker --pool=prefork --concurrency={args.concurrency}"
            f"{' (CELERY_DB_REUSE_MAX=1000)' if args.db_reuse else ''}"
        )
    widths = [max(len(r[i]) for r in [("trial", "measured", "target", "notes"), *rows]) for i in range(4)]
    for row in [("trial", "measured", "target", "notes"), tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main(sys.argv[1:])
