"""Tracking hot path: the open pixel and the click redirect under a fixed request rate (docs/benchmarks.md).

    python -m bench tracking [--rate 2000] [--seconds 10] [--designs baseline,spool,direct] [--threads 8[,4,...]]

gunicorn runs as the README runs it (`config.wsgi`, 1 worker, `--threads`, 8 by default). For each design a fresh
gunicorn gets an open-loop load (requests are scheduled at `rate` per second whatever the answers do, and each
latency is measured from its scheduled time, so a stall counts against every request queued behind it; 64
keep-alive connections, a hand-written asyncio HTTP/1.1 client in its own process). Half the requests are pixels,
half clicks, over 1,000 deliveries. After the run gunicorn is stopped gracefully, the spool directory is checked
(nothing may be left unshipped), the buffer is flushed and TrackingEvent rows are counted: each answered request
must be exactly one row.

  baseline  the same server and load, every token invalid (signature check, 400, nothing recorded)
  spool     (alias: redis) hits appended to the web process's spool file, shipped to the Redis buffer by its
            shipper thread, flushed afterwards in batches (timed)
  redis-down  the spool design with Redis unreachable: the shipper stores its batches directly (the fallback)
  direct    each request classifies and inserts its own row (no Redis: the embedded default's path)

    python -m bench tracking --kill [--seconds 10]

The same server under a closed-loop load of 8 clients, its worker SIGKILLed halfway (gunicorn's master starts
another): every request that got an answer must be one row after the graceful stop and the flush.

    python -m bench tracking --compose 20000

The render side instead: `delivery.compose.compose_page` (what a page task runs per 100 recipients) over a
~10 KB HTML email with 6 links and a text part, with tracking on (pixel + every link signed) and off, in
alternating rounds; CPU time per email.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import ROOT, database_url, print_table, setup_django
from bench.procs import cpu_seconds, process_tree

DB = os.environ.get("BENCH_TRACKING_DB", "herald_bench_tracking")
CONNECTIONS = 64
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


def _paths(n_deliveries: int, total: int, *, valid: bool) -> list[str]:
    from contacts.models import Contact
    from delivery import services
    from delivery.models import Delivery, Send
    from delivery.tokens import click_token_make, open_token_make

    send = Send.objects.filter(label="bench-tracking").first()
    if send is None:
        Contact.objects.bulk_create(
            [Contact(email=f"t{i}@bench.example") for i in range(n_deliveries)], ignore_conflicts=True
        )
        send = services.send_create(label="bench-tracking", subject="s", body_text="b")
        services.send_start(
            send_id=send.pk, audience=Contact.objects.filter(email__endswith="@bench.example").values("pk")
        )
        Delivery.objects.filter(send=send).update(status="sent", sent_at=time.strftime("%Y-%m-%dT00:00:00Z"))
    ids = list(Delivery.objects.filter(send=send).values_list("pk", flat=True))
    rnd = random.Random(7)
    paths = []
    for i in range(total):
        d = rnd.choice(ids)
        if i % 2:
            token = open_token_make(delivery_id=d, send_id=send.pk)
            kind = "o"
        else:
            url = f"https://example.com/article/{rnd.randrange(5)}?utm_source=herald"
            token = click_token_make(delivery_id=d, send_id=send.pk, link_index=0, link_count=5, url=url)
            kind = "c"
        if not valid:
            token = token[:-4] + "AAAA"
        paths.append(f"/t/{kind}/{token}")
    return paths


async def _load(port: int, paths: list[str], rate: float) -> dict[str, Any]:
    queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            job = await queue.get()
            if job is None:
                writer.close()
                return
            path, scheduled = job
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: {UA}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] = statuses.get(status, 0) + 1

    workers = [asyncio.create_task(conn()) for _ in range(CONNECTIONS)]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for i, path in enumerate(paths):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((path, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max": latencies[-1] * 1000,
        "statuses": statuses,
    }


def _web_args(threads: int) -> list[str]:
    """The web command as the README runs it (`asgi`), or the WSGI one it replaced (`BENCH_WEB=wsgi`)."""
    if os.environ.get("BENCH_WEB", "asgi") == "wsgi":
        return ["config.wsgi", "--workers", "1", "--threads", str(threads)]
    return ["config.asgi", "-k", "asgi", "--workers", "1"]


def _gunicorn(port: int, design: str, *, threads: int, spool: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "HERALD_WEB_THREADS": str(threads),
        "DATABASE_URL": database_url(DB),
        "TRACKING_BUFFER": "direct" if design == "direct" else "redis",
        # The test settings ship by hand; the web process ships with its thread, as in production.
        "TRACKING_SPOOL_SHIPPER": "true",
        "HERALD_TRACKING_SPOOL_DIR": str(spool),
    }
    if design == "redis-down":  # nothing listens there: the shipper stores its batches directly
        env.update({"REDIS_URL": "redis://127.0.0.1:1/0", "TRACKING_BUFFER": "redis"})
    cmd = [str(Path(sys.executable).parent / "gunicorn"), *_web_args(threads), "--bind", f"127.0.0.1:{port}"]
    cmd += ["--log-level", "warning"]
    # Extra gunicorn options for a trial (e.g. BENCH_GUNICORN_ARGS="--http-parser=python" against the C parser).
    cmd += os.environ.get("BENCH_GUNICORN_ARGS", "").split()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    # Ready when the worker answers (the master accepts connections before its worker has loaded Django).
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /t/o/ready HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 400"):
                    return proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


COMPOSE_HTML = (
    '<!doctype html><html><body style="font-family:Arial,sans-serif"><h1>Hello {{ first_name }}</h1>'
    + "".join(
        f"<p>Paragraph {i}: our autumn update for {{{{ first_name }}}}, new features, fixes and a few words from "
        "the team about what is coming next quarter, long enough to look like real content. "
        f'<a href="https://example.org/article/{i}?utm_source=herald&amp;utm_medium=email">Read more</a></p>'
        for i in range(6)
    )
    + '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)
COMPOSE_TEXT = "Hello {{ first_name }}\n" + "".join(f"Article {i}: https://example.org/article/{i}\n" for i in range(6))


def _compose_trial(recipients: int) -> None:
    from contacts.models import Contact
    from delivery import services
    from delivery.compose import Recipient, compose_page
    from delivery.models import Delivery, Send

    Contact.objects.bulk_create(
        [Contact(email=f"r{i}@compose.example", first_name=f"Ann{i}") for i in range(100)], ignore_conflicts=True
    )
    audience = Contact.objects.filter(email__endswith="@compose.example").values("pk")
    sends = {}
    for tracked in (True, False):
        send = services.send_create(
            label="bench-compose",
            subject="News for {{ first_name }}",
            body_html=COMPOSE_HTML,
            body_text=COMPOSE_TEXT,
            track_opens=tracked,
            track_clicks=tracked,
        )
        services.send_start(send_id=send.pk, audience=audience)
        rows = Delivery.objects.filter(send=send).select_related("contact")
        page = [
            Recipient(
                delivery_id=d.pk,
                contact_id=d.contact_id,
                email=d.email,
                first_name=d.contact.first_name,
                last_name="",
                mobile="",
                lms_lead_id=None,
            )
            for d in rows
        ]
        sends[tracked] = (Send.objects.select_related("template").get(pk=send.pk), page)
    cpu = {True: 0.0, False: 0.0}
    size = {True: 0, False: 0}
    rounds = 5
    pages = max(1, recipients // 100 // rounds)
    for _ in range(rounds):
        for tracked in (False, True):
            send, page = sends[tracked]
            start = time.process_time()
            for _ in range(pages):
                emails = compose_page(send=send, recipients=page)
            cpu[tracked] += time.process_time() - start
            size[tracked] = len(emails[0].html) + len(emails[0].text)
    n = rounds * pages * 100
    rows_out = [
        {
            "tracking": "on" if tracked else "off",
            "emails": n,
            "cpu s": f"{cpu[tracked]:.2f}",
            "us/email": f"{cpu[tracked] / n * 1e6:.0f}",
            "bytes/email": size[tracked],
        }
        for tracked in (False, True)
    ]
    load = Path("/proc/loadavg").read_text().split()[:3]
    print_table(f"compose_page, tracking off vs on (load avg {' '.join(load)})", rows_out)
    print(f"overhead: {(cpu[True] / cpu[False] - 1) * 100:+.1f} % CPU per email")


def _kill_trial(port: int, threads: int, seconds: float) -> None:
    """SIGKILL the gunicorn worker in the middle of a load, let the master start a new one, stop gracefully,
    flush: every request that got its answer must be one row (the killed worker's spool is shipped by the next)."""
    import http.client
    import signal
    import threading

    from delivery.models import TrackingEvent
    from delivery.services import tracking, tracking_spool

    TrackingEvent.objects.all().delete()
    client = tracking.buffer_client()
    assert client is not None, "REDIS_URL is needed"
    client.delete(tracking.BUFFER_KEY)
    paths = _paths(1000, 200_000, valid=True)
    spool = Path(tempfile.mkdtemp(prefix="herald-bench-spool-"))
    proc = _gunicorn(port, "spool", threads=threads, spool=spool)
    answered, failed, stop = [0], [0], threading.Event()

    def load(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        i = offset
        while not stop.is_set():
            try:
                conn.request("GET", paths[i % len(paths)], headers={"User-Agent": UA})
                response = conn.getresponse()
                response.read()
                answered[0] += response.status in (200, 302)
            except (OSError, http.client.HTTPException):
                failed[0] += 1  # in flight when the worker died: no answer, so it need not be counted
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                time.sleep(0.05)
            i += 8
        conn.close()

    workers = [threading.Thread(target=load, args=(n,)) for n in range(8)]
    try:
        for t in workers:
            t.start()
        time.sleep(seconds / 2)
        victim = next(pid for pid in process_tree(proc.pid) if pid != proc.pid)
        os.kill(victim, signal.SIGKILL)
        killed_at = answered[0]
        time.sleep(seconds / 2)
        stop.set()
        for t in workers:
            t.join()
        time.sleep(1)  # the new worker's shipper: its first pass looks for orphans
    finally:
        proc.terminate()
        proc.wait(10)
    left = tracking_spool.spool_backlog(spool)
    shutil.rmtree(spool, ignore_errors=True)  # counted: the bench's own hits
    while tracking.tracking_buffer_flush():
        pass
    stored = TrackingEvent.objects.count()
    load_avg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"SIGKILL of the worker after {killed_at} answers: {answered[0]} answered, {failed[0]} without an answer, "
        # A request cut off after its hit was written but before its answer arrived is a row too: at most one per
        # request without an answer. Fewer rows than answers would be a lost hit.
        f"{stored} rows ({'yes' if answered[0] <= stored <= answered[0] + failed[0] else 'NO'}: answered <= rows "
        f"<= answered + unanswered), spool left "
        f"{left.unshipped_bytes} bytes in {left.files} files (load avg {load_avg})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--designs", default="baseline,spool,direct")
    parser.add_argument(
        "--threads",
        default="8",
        help="gunicorn's --threads (the README runs 8); a list (8,4) runs each design with each",
    )
    parser.add_argument("--port", type=int, default=8150)
    parser.add_argument(
        "--direct-seconds", type=float, default=2, help="the direct design's load lasts this long (it is ~40x slower)"
    )
    parser.add_argument("--compose", type=int, default=0, help="run the render trial over this many emails")
    parser.add_argument(
        "--kill", action="store_true", help="SIGKILL the worker mid-load instead: every answered hit must be a row"
    )
    args = parser.parse_args()
    setup_django(DB)
    if args.compose:
        _compose_trial(args.compose)
        return
    if args.kill:
        _kill_trial(args.port, int(args.threads.split(",")[0]), args.seconds)
        return
    from delivery.models import TrackingEvent
    from delivery.services import tracking, tracking_spool

    rows = []
    runs = [(t, d) for t in (int(n) for n in args.threads.split(",")) for d in args.designs.split(",")]
    for threads, design in runs:
        design = "spool" if design == "redis" else design
        total = int(args.rate * (args.direct_seconds if design == "direct" else args.seconds))
        TrackingEvent.objects.all().delete()
        client = tracking.buffer_client()
        if client is not None:
            client.delete(tracking.BUFFER_KEY)
        paths = _paths(1000, total, valid=design != "baseline")
        spool = Path(tempfile.mkdtemp(prefix="herald-bench-spool-"))
        proc = _gunicorn(args.port, design, threads=threads, spool=spool)
        try:
            server = process_tree(proc.pid)
            server_cpu, client_cpu = cpu_seconds(server), time.process_time()
            result = asyncio.run(_load(args.port, paths, args.rate))
            server_cpu, client_cpu = cpu_seconds(server) - server_cpu, time.process_time() - client_cpu
            # How far the shipper is behind when the load stops (bytes written, not yet in Redis).
            behind = tracking_spool.spool_backlog(spool).unshipped_bytes
        finally:
            proc.terminate()  # graceful: the worker's exit ships what is left (stores it, with Redis down: slower)
            proc.wait(60)
        left = tracking_spool.spool_backlog(spool)
        shutil.rmtree(spool, ignore_errors=True)  # counted: the bench's own hits
        flush_start = time.perf_counter()
        while tracking.tracking_buffer_flush():
            pass
        flush_s = time.perf_counter() - flush_start
        answered = sum(n for s, n in result["statuses"].items() if s in (200, 302))
        stored = TrackingEvent.objects.count()
        rows.append(
            {
                "design": design,
                "threads": threads,
                "sent": total,
                "answered": result["requests"],
                "req/s": f"{result['rps']:.0f}",
                "p50 ms": f"{result['p50']:.1f}",
                "p99 ms": f"{result['p99']:.1f}",
                "max ms": f"{result['max']:.1f}",
                "statuses": " ".join(f"{k}:{v}" for k, v in sorted(result["statuses"].items())),
                "rows": stored,
                "rows == 2xx/3xx": "yes" if stored == answered else f"NO ({answered})",
                # Unshipped spool bytes when the load stopped / after gunicorn's graceful exit (must be 0).
                "spool behind/left": f"{behind}/{left.unshipped_bytes}" if design in ("spool", "redis-down") else "-",
                "flush s": f"{flush_s:.2f}" if design == "spool" else "-",
                # CPU seconds per wall second during the load: ~1.0 for the server is one core saturated (one
                # gunicorn worker: the GIL allows no more), the client's share shows what the load itself costs.
                "server cpu": f"{server_cpu / result['elapsed']:.2f}",
                "client cpu": f"{client_cpu / result['elapsed']:.2f}",
            }
        )
        time.sleep(1)
    load = Path("/proc/loadavg").read_text().split()[:3]
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    title = f"Tracking hot path, {args.rate:.0f} req/s for {args.seconds:.0f} s, {now} (load avg {' '.join(load)})"
    print_table(title, rows)


if __name__ == "__main__":
    main()
