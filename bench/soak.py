"""Soak `make run` (issue 12): a clean clone on the embedded default, a demo send every few minutes, 0 crashes.

    python -m bench soak [--minutes 30] [--every 180] [--port 8765] [--source .]

1. Baseline, measured in the same run: the embedded broker under the load that killed workers, stock kombu
   filesystem transport against Herald's (config/broker.py). Three writer processes put messages as fast as they can
   while a reader takes them, for ``--race-seconds`` each; it counts messages a reader could not decode (each one
   was an "Unrecoverable error" that stopped the worker).
2. The soak: ``git clone`` of the source into a temporary folder, then the README's first command, ``make run``,
   exactly as a new user runs it (its own .venv, SQLite, the filesystem broker, outbox email), on ``--port``. Every
   ``--every`` seconds a scenario is created and sent now through the API to the demo campaign's contacts; each send
   must reach the Outbox for every subscribed demo contact within ``--deadline`` seconds. Afterwards the output is
   searched for worker deaths (the supervisor's restart lines, "Unrecoverable error", JSONDecodeError).

Prints one table; exit status 1 if any process died, any send fell short, or the stock transport did not fail (then
the baseline proves nothing on this machine: say so).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kombu import Connection

from config import broker

ROOT = Path(__file__).resolve().parent.parent


# --- 1. the broker race, stock vs Herald's -----------------------------------------------------------------------


def _conn(scheme: str, root: Path) -> Connection:
    folder = root / "out"
    for name in ("out", "processed", "control"):
        (root / name).mkdir(parents=True, exist_ok=True)
    broker.register()
    return Connection(
        f"{scheme}://localhost//",
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(root / "processed"),
            "control_folder": str(root / "control"),
            "store_processed": False,
        },
    )


def _writer(scheme: str, root: str, until: float) -> None:
    with _conn(scheme, Path(root)) as conn:
        queue = conn.SimpleQueue("race")
        pad = "x" * 50_000
        while time.monotonic() < until:
            queue.put({"pad": pad})


def broker_race(scheme: str, seconds: float) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"soak-{scheme}-"))
    until = time.monotonic() + seconds
    writers = [multiprocessing.Process(target=_writer, args=(scheme, str(root), until)) for _ in range(3)]
    for w in writers:
        w.start()
    read = failed = 0
    with _conn(scheme, root) as conn:
        channel = conn.default_channel
        while time.monotonic() < until + 1:
            try:
                channel._get("race")
                read += 1
            except Exception as exc:  # the stock transport raises JSONDecodeError (a ValueError) here
                if type(exc).__name__ == "Empty":
                    time.sleep(0.001)
                    continue
                failed += 1
    for w in writers:
        w.join()
    corrupt = len(list((root / "corrupt").glob("*"))) if (root / "corrupt").exists() else 0
    return {"transport": scheme, "read": read, "decode_errors": failed, "set_aside": corrupt}


# --- 2. the soak of `make run` -------------------------------------------------------------------------------------


def _request(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Token {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def _wait_for_web(base: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"make run exited with {proc.returncode} before the web server answered")
        try:
            urllib.request.urlopen(base + "login/", timeout=2).close()
            return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    raise SystemExit(f"the web server did not answer within {timeout:.0f} s")


def _outbox_count(db: Path, subject: str) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return int(
            conn.execute("select count(*) from delivery_outboxmessage where subject = ?", (subject,)).fetchone()[0]
        )


def soak(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="herald-soak-"))
    clone = work / "herald"
    subprocess.run(["git", "clone", "--quiet", str(Path(args.source).resolve()), str(clone)], check=True)
    log_path = work / "make-run.log"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env["HERALD_PORT"] = str(args.port)
    base = f"http://127.0.0.1:{args.port}/"
    print(f"soak: make run in {clone}, output in {log_path}", flush=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    sends: list[dict[str, Any]] = []
    try:
        _wait_for_web(base, proc, timeout=600)
        manage = [str(clone / ".venv/bin/python"), "manage.py"]
        token = subprocess.run(
            [*manage, "drf_create_token", "admin"], cwd=clone, env=env, check=True, capture_output=True, text=True
        ).stdout.split()[2]
        db = clone / "db.sqlite3"
        with sqlite3.connect(db) as conn:
            campaign = conn.execute("select id from campaigns_campaign where name = 'Herald demo'").fetchone()[0]
            audience = conn.execute(
                "select count(*) from contacts_contact c join contacts_batchmember m on m.contact_id = c.id "
                "join campaigns_campaign k on k.batch_id = m.batch_id where k.id = ? and c.status = 'subscribed'",
                (campaign,),
            ).fetchone()[0]
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < args.minutes * 60:
            if proc.poll() is not None:
                break
            n += 1
            subject = f"Soak send {n}"
            today = time.strftime("%Y-%m-%d", time.gmtime())
            later = time.strftime("%H:%M", time.gmtime(time.time() + 3600))
            scenario = _request(
                "POST",
                base + "api/v1/scenarios",
                token,
                {
                    "campaign": campaign,
                    "subject": subject,
                    "content": "Soak {{ first_name }}",
                    "send_date": today,
                    "send_time": later,
                },
            )
            t0 = time.monotonic()
            _request("POST", base + f"api/v1/scenarios/{scenario['id']}/send", token, {"at": None})
            got = 0
            while time.monotonic() - t0 < args.deadline:
                got = _outbox_count(db, subject)
                if got >= audience:
                    break
                time.sleep(1)
            sends.append({"n": n, "expected": audience, "outbox": got, "seconds": round(time.monotonic() - t0, 1)})
            print(f"soak: send {n}: {got}/{audience} in the Outbox after {sends[-1]['seconds']} s", flush=True)
            next_at = t0 + args.every
            while time.monotonic() < next_at and time.monotonic() - started < args.minutes * 60:
                if proc.poll() is not None:
                    break
                time.sleep(1)
        alive = proc.poll() is None
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    output = log_path.read_text(errors="replace")
    return {
        "minutes": round(elapsed / 60, 1),
        "alive_at_end": alive,
        "sends": sends,
        "restarts": len(re.findall(r"herald: \w+ (exited|killed)", output)),
        "unrecoverable": output.count("Unrecoverable error"),
        "json_errors": output.count("JSONDecodeError"),
        "log": str(log_path),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--every", type=float, default=180, help="seconds between demo sends")
    parser.add_argument("--deadline", type=float, default=120, help="seconds a send may take to reach the Outbox")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--source", default=str(ROOT), help="the repository to clone (its HEAD is soaked)")
    parser.add_argument("--race-seconds", type=float, default=20)
    parser.add_argument("--skip-race", action="store_true")
    args = parser.parse_args()

    races = (
        []
        if args.skip_race
        else [broker_race("filesystem", args.race_seconds), broker_race("herald-fs", args.race_seconds)]
    )
    result = soak(args)

    print()
    print("| broker, 3 writers + 1 reader | seconds | messages read | decode errors (each a dead worker) |")
    print("|---|---|---|---|")
    for race in races:
        print(f"| {race['transport']} | {args.race_seconds:.0f} | {race['read']:,} | {race['decode_errors']} |")
    sends = result["sends"]
    complete = sum(1 for s in sends if s["outbox"] >= s["expected"])
    slowest = max((s["seconds"] for s in sends), default=0)
    print()
    print(
        "| make run soak | minutes | demo sends | complete | slowest send (s) | restarts | unrecoverable | JSONDecodeError | up at end |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| clean clone, embedded default | {result['minutes']} | {len(sends)} | {complete} | {slowest} | "
        f"{result['restarts']} | {result['unrecoverable']} | {result['json_errors']} | {result['alive_at_end']} |"
    )
    print(f"\nlog: {result['log']}")
    ok = (
        result["alive_at_end"]
        and result["restarts"] == 0
        and result["unrecoverable"] == 0
        and complete == len(sends) > 0
    )
    if races and races[0]["decode_errors"] == 0:
        print("note: the stock transport did not fail in this run; the baseline shows nothing on this machine")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
