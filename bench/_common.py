"""Helpers shared by the benchmarks. Keep this API small and stable; several benchmarks import it.

- `setup_django(db_name)`: point Django at PostgreSQL database `db_name` (created if missing), set it up, migrate.
- `timed()`: context manager; `with timed() as t: ...` then `t.seconds` (also `float(t)`).
- `print_table(title, rows)`: a plain aligned table from a list of dicts (keys of the first row are the columns).
- `peak_rss_mb(pid=None)`: peak resident set size in MB of this process (or of `pid` via /proc).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def database_url(db_name: str) -> str:
    """The URL of `db_name` on the server named by DATABASE_URL (or the local default)."""
    base = urlsplit(os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL)
    if not base.scheme.startswith("postgres"):
        base = urlsplit(DEFAULT_SERVER_URL)
    return urlunsplit((base.scheme, base.netloc, f"/{db_name}", base.query, ""))


def _create_database_if_missing(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    db_name = parts.path.lstrip("/")
    admin_url = urlunsplit((parts.scheme.replace("postgresql", "postgres"), parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))


def setup_django(db_name: str) -> None:
    """Configure Django (test settings) on database `db_name`, creating it if missing, and migrate it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    url = database_url(db_name)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    _create_database_if_missing(url)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


class Timer:
    """Elapsed wall time of a `with timed()` block; readable while running and after."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.end: float | None = None

    @property
    def seconds(self) -> float:
        return (self.end if self.end is not None else time.perf_counter()) - self.start

    def __float__(self) -> float:
        return self.seconds


@contextmanager
def timed() -> Iterator[Timer]:
    timer = Timer()
    try:
        yield timer
    finally:
        timer.end = time.perf_counter()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """Print `rows` as an aligned text table under `title`."""
    print(f"\n{title}")
    if not rows:
        print("(no rows)")
        return
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths, strict=True)))
    sys.stdout.flush()


def _numeric(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "").replace("-", "").replace("%", "").isdigit()


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident set size in MB: of this process by default, or of `pid` (VmHWM from /proc, Linux)."""
    if pid is None or pid == os.getpid():
        # ru_maxrss is in kilobytes on Linux.
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")
