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
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.request
from typing import Any, NamedTuple

from bench import _send_data as data
from bench.procs import Fake, Stack, Workers, cpu_seconds, memory_kb, own_backend_pid, postgres_pids

TRIALS = ("baseline", "throughput", "rate", "latency", "memory", "kill")

# --- trials --------------------------------------------------------------------------------------------------


def trial_baseline(fake: Fake, count: int) -> dict[str, Any]:
    """A bare SDK loop: personalise with str.replace, one Batch.send per 100 emails, the SDK's default client."""
    import resend
    from resend.http_client_requests import RequestsClient

    fake.reset()
    resend.api_key, resend.api_url = "re_bench", fake.url
    resend.default_http_client = RequestsClient()
    html = data.HTML.replace("{{ last_name }}", "Last").replace("{{ email|urlencode }}", "x")
    started = time.time()
    emails = data.emails(count)
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
    fake_cpu, worker_cpu = cpu_seconds([fake.proc.pid]), cpu_seconds(workers.pids())
    # The snapshot runs in this process, on its own connection: its backend's CPU is counted apart.
    own_backend = own_backend_pid()
    snapshot_cpu = cpu_seconds([own_backend])
    send_id, due = data.start_send(count, "throughput")
    data.wait(lambda: data.send_done(send_id), timeout=600)
    ledger = fake.ledger()
    # Where the CPU went (the machine may be shared: wall time alone does not say whose cores were busy).
    cpu = {
        "workers": cpu_seconds(workers.pids()) - worker_cpu,
        "postgres": cpu_seconds(postgres_pids(settings.DATABASES["default"]["NAME"])),
        "postgres (snapshot)": (
            cpu_seconds([own_backend]) - snapshot_cpu if own_backend_pid() == own_backend else float("nan")
        ),
        "fake_server": cpu_seconds([fake.proc.pid]) - fake_cpu,
    }
    workers.kill()
    from bench.fake_resend import ledger_report

    report = ledger_report(ledger["counts"], data.emails(count))
    return {
        "seconds": ledger["last_accepted_at"] - due,
        "first": ledger["first_request_at"] - due,
        "cpu": cpu,
        **report,
    }


def trial_rate(fake: Fake, workers: Workers, count: int) -> dict[str, Any]:
    fake.reset(latency_ms=200, rate_limit=2)
    workers.start(RESEND_RATE_LIMIT="2")
    send_id, due = data.start_send(count, "rate")
    data.wait(lambda: data.send_done(send_id), timeout=count / 100 + 120)
    ledger = fake.ledger()
    workers.kill()
    from bench.fake_resend import ledger_report

    report = ledger_report(ledger["counts"], data.emails(count))
    steady = (count - 100) / (ledger["last_accepted_at"] - ledger["first_accepted_at"])
    overall = count / (ledger["last_accepted_at"] - due)
    return {"steady": steady, "overall": overall, "429": ledger["stats"].get("429", 0), **report}


def trial_latency(fake: Fake, workers: Workers, trials: int) -> dict[str, Any]:
    workers.start()
    samples = []
    for _ in range(trials):
        fake.reset()
        time.sleep(random.uniform(0.2, 0.6))
        send_id, due = data.start_send(100, "latency")
        data.wait(lambda: fake.ledger()["first_request_at"] is not None, timeout=30)
        samples.append(fake.ledger()["first_request_at"] - due)
        data.wait(lambda send_id=send_id: data.send_done(send_id), timeout=30)  # type: ignore[misc]
    workers.kill()
    return {"p50": statistics.median(samples), "max": max(samples), "samples": samples}


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
            split = {name: memory_kb(pids) for name, pids in stack.pids().items()}
            rss, pss = sum(v.rss for v in split.values()), sum(v.pss for v in split.values())
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
    send = services.send_create(label="memory", subject="News for {{ first_name }}", body_html=data.HTML)
    scenario_id = data.bench_scenario(send.pk)
    poller = threading.Thread(target=poll, args=(scenario_id, data.viewer_token()), daemon=True)
    poller.start()
    due = time.time()
    services.send_start(send_id=send.pk, audience=data.audience(count))
    data.wait(lambda: data.send_done(send.pk), timeout=3600)
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
    send_id, due = data.start_send(count, "kill")
    rng = random.Random(7)
    done_kills = 0
    while done_kills < kills:
        time.sleep(rng.uniform(0.5, 3.0))
        if data.send_done(send_id):
            break
        workers.kill()
        done_kills += 1
        workers.start()
    data.wait(lambda: data.send_done(send_id), timeout=900, tick=lambda: services.watchdog(stale_after=10))
    ledger = fake.ledger()
    workers.kill()
    send = Send.objects.get(pk=send_id)
    report = ledger_report(ledger["counts"], data.emails(count))
    return {
        "kills": done_kills,
        "seconds": ledger["last_accepted_at"] - due,
        "replays": ledger["stats"].get("replays", 0),
        "db_sent": send.sent,
        **report,
    }


# --- main ----------------------------------------------------------------------------------------------------


class Row(NamedTuple):
    """One row of the final table."""

    trial: str
    measured: str
    target: str
    notes: str


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
    parser.add_argument(
        "--first-rows",
        type=int,
        default=100,
        help="DELIVERY_SNAPSHOT_FIRST_ROWS of this process and the workers (production's default 100; 0: one part)",
    )
    args = parser.parse_args(argv)
    # The test settings this process and the workers run under default to one part: measure production's.
    os.environ["DELIVERY_SNAPSHOT_FIRST_ROWS"] = str(args.first_rows)
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
    data.setup_data(need)
    data.purge_broker()
    fake = Fake(nagle=args.fake_nagle)
    workers = Workers(fake, args.concurrency, db_reuse=args.db_reuse)
    rows: list[Row] = []
    try:
        base: dict[str, Any] | None = None
        if "baseline" in only or "throughput" in only:
            base = trial_baseline(fake, args.recipients)
            rows.append(
                Row(
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
                Row(
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
                Row(
                    f"2 req/s, 200 ms latency, {args.rate_recipients:,} emails",
                    f"steady {r['steady']:.1f}/s ({r['steady'] / 2:.1f} %), due->end {r['overall']:.1f}/s",
                    ">= 95 % of 200/s",
                    f"429s {r['429']}, dup {r['duplicates']} / missing {r['missing']}",
                )
            )
        if "latency" in only:
            r = trial_latency(fake, workers, args.trials)
            rows.append(
                Row(
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
                Row(
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
                Row(
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
    header = Row(*Row._fields)
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main(sys.argv[1:])
