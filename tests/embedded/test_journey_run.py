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
import time
from pathlib import Path

import pytest

from tests.embedded.stack import ROOT, embedded_env, manage

pytestmark = [pytest.mark.e2e]

PORT = "8537"  # this helper's range (8500-8599); the web is started but not used by the test


def _outbox(db: Path, email: str) -> list[str]:
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute('SELECT subject FROM delivery_outboxmessage WHERE "to" = ? ORDER BY id', [email]).fetchall()
    return [r[0] for r in rows]


def test_make_run_sends_the_welcome_journeys_first_email_to_a_new_contact_into_the_outbox(tmp_path: Path) -> None:
    env = embedded_env(tmp_path, port=PORT)
    for command in ("migrate", "seed_demo", "seed_demo_automations", "seed_demo_journeys"):  # `make demo`
        manage(env, command, *(["--noinput"] if command == "migrate" else []))
    manage(
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
        manage(
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
