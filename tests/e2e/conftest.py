"""End-to-end fixtures: a local Resend-compatible server and real `celery -A config worker` processes.

Tests using `celery_worker` need `@pytest.mark.django_db(transaction=True)` (the worker is another process and
must see committed rows in pytest-django's test database) and `@pytest.mark.e2e`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from bench.fake_resend import FakeResend, ledger_report
from bench.procs import celery_worker_cmd, kill_groups
from tests.broker import purge_broker

ROOT = Path(__file__).resolve().parents[2]


class FakeResendHandle:
    """The server of bench/fake_resend.py running in a thread of the test process."""

    def __init__(self, server: FakeResend) -> None:
        self._server = server
        self.url = server.url

    def ledger(self) -> dict[str, int]:
        """Accepted emails per recipient (lower-cased address -> count)."""
        return dict(self._server.ledger.snapshot()["counts"])

    def stats(self) -> dict[str, Any]:
        snap = self._server.ledger.snapshot()
        return {**snap["stats"], "missing_unsubscribe": snap["missing_unsubscribe"]}

    def report(self, expected: list[str]) -> dict[str, int]:
        """received / duplicates / missing / unexpected against the recipients a test expects."""
        return ledger_report(self.ledger(), expected)

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        with self._server.ledger.lock:
            items = list(self._server.ledger.messages)
        return [m for m in items if to is None or to in m.get("to", [])]

    def configure(self, **knobs: Any) -> None:
        """latency_ms, error_rate, error_after_accept_rate, rate_limit, storm_429_rate, retry_after, ..."""
        self._server.configure(**knobs)

    def reset(self) -> None:
        with self._server.ledger.lock:
            self._server.ledger.reset()
        self._server.knobs.__init__()  # type: ignore[misc]


@pytest.fixture(scope="session")
def _fake_resend_server() -> Iterator[FakeResend]:
    server = FakeResend().start()
    yield server
    server.stop()


@pytest.fixture
def fake_resend(_fake_resend_server: FakeResend) -> Iterator[FakeResendHandle]:
    handle = FakeResendHandle(_fake_resend_server)
    handle.reset()
    yield handle
    handle.reset()


def _database_url() -> str:
    s = connection.settings_dict
    auth = quote(s.get("USER") or "postgres")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class CeleryWorkers:
    """Starts real worker processes against the test database; can SIGKILL and restart them."""

    def __init__(self, fake: FakeResendHandle, log_dir: Path) -> None:
        self.fake = fake
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env_overrides: dict[str, str] = {}
        self.concurrency = 2
        self.starts = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "DATABASE_URL": _database_url(),
                "REDIS_URL": settings.REDIS_URL,
                "EMAIL_TRANSPORT": "resend",
                "RESEND_API_URL": self.fake.url,
                "RESEND_API_KEY": "re_test",
                "RESEND_RATE_LIMIT": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env_overrides)
        return env

    def start(self, *, concurrency: int | None = None, wait: bool = True, **env: str) -> subprocess.Popen[bytes]:
        """Start one worker (`concurrency` threads, as production runs it; HERALD_WORKER_POOL=prefork for
        processes). Extra keyword arguments become env variables."""
        if concurrency is not None:
            self.concurrency = concurrency
        self.env_overrides.update({k: str(v) for k, v in env.items()})
        self.starts += 1
        log = self.log_dir / f"worker-{self.starts}.log"
        cmd = celery_worker_cmd(
            app="config",
            concurrency=self.concurrency,
            name=f"e2e-{uuid.uuid4().hex[:8]}@%h",
            pool=os.environ.get("HERALD_WORKER_POOL", "threads"),
        )
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        if wait:
            self._wait_ready(proc, log)
        return proc

    def _wait_ready(self, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if b" ready." in log.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL every worker process (the parent and its pool children) at once."""
        kill_groups(self.procs)
        self.procs = [p for p in self.procs if p.poll() is None]

    def restart(self) -> subprocess.Popen[bytes]:
        self.kill()
        return self.start()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def celery_worker(transactional_db: None, fake_resend: FakeResendHandle, tmp_path: Path) -> Iterator[CeleryWorkers]:
    """`celery_worker.start(concurrency=2, RESEND_RATE_LIMIT="2")`, `.kill()`, `.restart()`, `.logs()`.

    Depends on `transactional_db`, so the workers are killed before pytest-django flushes the tables.
    """
    if not settings.REDIS_URL:
        pytest.fail("end-to-end tests need REDIS_URL (make test sets it)")
    purge_broker(settings.REDIS_URL)
    workers = CeleryWorkers(fake_resend, tmp_path)
    yield workers
    workers.kill()
    purge_broker(settings.REDIS_URL)


class Beat:
    """`celery -A config beat` with the DatabaseScheduler, on the workers' environment (the test database)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 60.0) -> None:
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            "--scheduler",
            "scheduler.beat:HeraldScheduler",
            "-s",
            str(self.log.with_suffix(".schedule")),
        ]
        with self.log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery beat exited with {proc.returncode}:\n{self.text()}")
            # The DatabaseScheduler logs its first load of the PeriodicTasks.
            if b"DatabaseScheduler: Schedule changed" in self.log.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"celery beat not started after {timeout}s:\n{self.text()}")

    def stop(self) -> None:
        kill_groups(self.procs)
        self.procs = []

    def text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@pytest.fixture
def beat(celery_worker: Any, tmp_path: Path) -> Iterator[Beat]:
    """Torn down before `celery_worker` (and so before pytest-django flushes the tables)."""
    process = Beat(celery_worker.env(), tmp_path / "beat.log")
    yield process
    process.stop()
