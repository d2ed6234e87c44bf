"""`make run`'s processes restart when they die, and say so; a process that keeps dying stops the set loudly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import supervise


def test_a_dead_process_is_restarted_with_a_line_that_says_how_it_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(supervise, "PAUSE_SECONDS", 0)
    runs = tmp_path / "runs"
    # Dies twice with code 3, then stays up until the supervisor is told to stop.
    script = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(runs)!r}); n = int(p.read_text()) if p.exists() else 0; p.write_text(str(n + 1))\n"
        "sys.exit(3) if n < 2 else time.sleep(0.2)\n"
    )
    supervisor = supervise.Supervisor("worker", [sys.executable, "-c", script])
    monkeypatch.setattr(supervise, "MAX_RESTARTS", 5)
    original_wait = subprocess.Popen.wait

    def wait_and_stop_on_third(self: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        code = original_wait(self, timeout)
        if runs.read_text() == "3":
            supervisor.stopping = True
        return code

    monkeypatch.setattr(subprocess.Popen, "wait", wait_and_stop_on_third)
    assert supervisor.run() == 0
    out = capsys.readouterr().out
    assert out.count("herald: worker exited with code 3; restarting it") == 2
    assert runs.read_text() == "3"


def test_a_process_that_keeps_dying_ends_the_set_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(supervise, "PAUSE_SECONDS", 0)
    monkeypatch.setattr(supervise, "MAX_RESTARTS", 2)
    supervisor = supervise.Supervisor("beat", [sys.executable, "-c", "import sys; sys.exit(7)"])
    assert supervisor.run() == 1
    out = capsys.readouterr().out
    assert "herald: beat exited with code 7 and died 3 times" in out
    assert "giving up" in out


def test_sigterm_from_honcho_stops_the_command_without_a_restart(tmp_path: Path) -> None:
    started = tmp_path / "started"
    child = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(30)"
    proc = subprocess.Popen(
        [sys.executable, supervise.__file__, "web", "--", sys.executable, "-c", child],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "restarting" not in out


def test_a_signal_death_is_named() -> None:
    assert supervise.describe_exit(-9) == "killed by SIGKILL"
    assert supervise.describe_exit(1) == "exited with code 1"
