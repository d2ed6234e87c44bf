"""The embedded default as `make run` starts it, for the tests that run it as a subprocess: its environment
(config.settings.local, SQLite, the filesystem broker, no Redis) and `manage.py` against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The suite's own settings that must not leak into the embedded stack.
_SUITE_ONLY = ("DATABASE_URL", "REDIS_URL", "EMAIL_TRANSPORT", "HERALD_BASE_URL", "TRACKING_BUFFER")


def embedded_env(tmp: Path, *, port: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SUITE_ONLY}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "HERALD_BROKER_DIR": str(tmp / "broker"),
            "HERALD_MEDIA_ROOT": str(tmp / "media"),
            "HERALD_PORT": port,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Run one `manage.py` command in the embedded stack; its stdout, or the test fails with its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout
