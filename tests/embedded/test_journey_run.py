"""`make run`, the embedded default (SQLite, the filesystem broker, the outbox transport, honcho running
Procfile.dev's web + worker + beat), runs the demo's Welcome journey once it is activated: a contact created
after that gets the journey's first email in the Outbox, by the processes alone.

Runs `make run`'s own steps (`make demo`'s commands, then `honcho start -f Procfile.dev`) in a temporary
directory's database and broker, with no DATABASE_URL or REDIS_URL, as `make run` does on a fresh checkout.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
PORT = "8537"  # this helper's range (8500-8599); the web is started but not used by the test


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "EMAIL_TRANSPORT")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "HERALD_BROKER_DIR": str(tmp / "broker"),
            "HERALD_MEDIA_ROOT": str(tmp / "media"),
            "HERALD_PORT": PORT,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _outbox(db: Path, email: str) -> list[str]:
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute('SELECT subject FROM delivery_outboxmessage WHERE "to" = ? ORDER BY id', [email]).fetchall()
    return [r[0] for r in rows]


def test_make_run_sends_the_welcome_journeys_first_email_to_a_new_contact_into_the_outbox(tmp_path: Path) -> None:
    env = _env(tmp_path)
    for command in ("migrate", "seed_demo", "seed_demo_automations", "seed_demo_journeys"):  # `make demo`
        _manage(env, command, *(["--noinput"] if command == "migrate" else []))
    _manage(
        env,
        "shell",
        "-c",
        "from automations import journeys; from automations.models import Journey; "
        "journeys.journey_activate(journey_id=Journey.objects.get(name='Welcome').pk)",
    )
    log = (tmp_path / "honcho.log").open("wb")
    honcho = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "honcho"), "start", "-f", "Procfile.dev"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in (tmp_path / "honcho.log").read_bytes():
            assert honcho.poll() is None and time.monotonic() < deadline, (tmp_path / "honcho.log").read_text()
            time.sleep(0.5)
        # A contact created the way the dashboard and the API create one (contacts.services): the journey's
        # trigger hears it on commit; beat's tick and the worker do the rest.
        _manage(
            env,
            "shell",
            "-c",
            "from contacts import services; services.contact_create(email='newcomer@example.com', first_name='Nia')",
        )
        db = tmp_path / "db.sqlite3"
        deadline = time.monotonic() + 60
        while not _outbox(db, "newcomer@example.com"):
            assert time.monotonic() < deadline, (tmp_path / "honcho.log").read_text()[-4000:]
            time.sleep(0.5)
        time.sleep(3)  # a second email now would be a duplicate
        assert _outbox(db, "newcomer@example.com") == ["Welcome to Herald"]
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        try:
            honcho.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait(timeout=10)
        log.close()
