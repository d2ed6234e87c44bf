"""Keep one `make run` process alive, and say so when it dies.

honcho stops every process as soon as one exits, so a worker crash used to take the web server down with it and
leave only a line of traceback far up the terminal (issue 12). Each process in ``Procfile.dev`` runs under this
wrapper: when the command exits on its own it is restarted after a short pause, with a line saying what died and
how; if it keeps dying (``MAX_RESTARTS`` within ``WINDOW_SECONDS``) the wrapper gives up with a message that names
the process and its last exit, and honcho then stops the rest. A SIGTERM or SIGINT from honcho (Ctrl-C) is passed
on to the command and ends the wrapper without a restart.

    python config/supervise.py worker -- celery -A config worker ...
    python config/supervise.py banner            # print the login once the web server answers, then wait

Run as a script, not ``-m config.supervise``: importing the ``config`` package loads Celery and Django, which the
wrapper does not need (and a signal arriving during that import would find no handler yet).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from types import FrameType

MAX_RESTARTS = 5
WINDOW_SECONDS = 600
PAUSE_SECONDS = 2.0
BASE_DIR = Path(__file__).resolve().parent.parent


def _say(message: str) -> None:
    print(f"herald: {message}", flush=True)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    def __init__(self, name: str, command: list[str]) -> None:
        self.name = name
        self.command = command
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.deaths: deque[float] = deque()

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while True:
            self.child = subprocess.Popen(self.command)
            code = self.child.wait()
            if self.stopping:
                return 0
            now = time.monotonic()
            self.deaths.append(now)
            while self.deaths and now - self.deaths[0] > WINDOW_SECONDS:
                self.deaths.popleft()
            if len(self.deaths) > MAX_RESTARTS:
                _say(
                    f"{self.name} {describe_exit(code)} and died {len(self.deaths)} times in "
                    f"{WINDOW_SECONDS // 60} minutes; giving up, so make run stops everything. "
                    f"Its output above says why."
                )
                return 1
            _say(
                f"{self.name} {describe_exit(code)}; restarting it in {PAUSE_SECONDS:.0f} s "
                f"(restart {len(self.deaths)} of at most {MAX_RESTARTS} in {WINDOW_SECONDS // 60} minutes)"
            )
            time.sleep(PAUSE_SECONDS)
            if self.stopping:
                return 0


def banner(url: str = "", timeout: float = 120.0) -> int:
    """Print where to log in once the web server answers, below the start-up noise; then wait for honcho's stop."""
    url = url or f"http://127.0.0.1:{os.environ.get('HERALD_PORT', '8000')}/"
    stop = {"now": False}

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    deadline = time.monotonic() + timeout
    while not stop["now"] and time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "login/", timeout=2).close()
            break
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    password_file = BASE_DIR / "var" / "admin_password.txt"
    password = password_file.read_text().strip() if password_file.exists() else "(see var/admin_password.txt)"
    if not stop["now"]:
        line = "=" * 72
        print(
            f"{line}\n  Herald is up: {url}\n  Log in as admin / {password}\n"
            f"  (also shown on the sign-in page in this embedded mode; Ctrl-C stops everything)\n{line}",
            flush=True,
        )
    while not stop["now"]:
        time.sleep(1)
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["banner"]:
        return banner()
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    return Supervisor(argv[0], argv[2:]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
