"""Import a generated contacts CSV twice in this process (fresh, then the same file again) and print each wall time,
this process's CPU time and the CPU time of the PostgreSQL backends serving it (every session on the database:
the import's own, its side session), with the merge's per-statement timings (`contacts.importing.merge` at DEBUG)
on stderr. A lighter A/B companion of `import_contacts` (no psql baseline, no child process): run it on two trees
in turn under the same load, each on its own database (`--db`). CPU times are steadier than wall times on a
shared machine.

    python -m bench import_inprocess [--rows 200000] [--db NAME]      # uses var/bench/contacts_<rows>.csv (import_contacts makes it)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path

from bench._common import ROOT, setup_django

DB_NAME = "herald_import_inprocess_bench"


class BackendCpu:
    """CPU seconds (user + system) of the PostgreSQL backends connected to one database, read from /proc (Linux;
    the server on this machine) every 50 ms, so a session that closes mid-run (the side session) still counts
    up to its last sample. Each process's command line is read once (the sampler's own CPU stays small)."""

    def __init__(self, db: str) -> None:
        self.marker = f" {db} ".encode()
        self.checked: set[int] = set()
        self.backends: set[int] = set()
        self.seen: dict[int, float] = {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in self.checked:
                continue
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if self.marker in cmdline:
                self.backends.add(int(name))
            # A backend just forked still shows the postmaster's command line until it has set its title
            # ("postgres: user database host"): look at it again next time.
            if b": " in cmdline or b"postgres" not in cmdline:
                self.checked.add(int(name))
        for pid in list(self.backends):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                self.backends.discard(pid)  # gone: its last sample stays counted
                continue
            self.seen[pid] = (int(fields[11]) + int(fields[12])) / self.tick

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self._sample()

    def total(self) -> float:
        self._sample()
        return sum(self.seen.values())


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench import_inprocess")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db", default=DB_NAME, help="database name (one per tree in an A/B: their schemas differ)")
    args = parser.parse_args(argv)
    path = ROOT / "var" / "bench" / f"contacts_{args.rows}.csv"
    if not path.exists():
        from bench.import_contacts import generate

        generate(path, args.rows)
    setup_django(args.db)
    from django.db import connection

    logging.getLogger("contacts.importing.merge").setLevel(logging.DEBUG)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE contacts_contact, contacts_contactattribute, contacts_importjob CASCADE")
        # The ledger has no database-level foreign key (no CASCADE); a tree without it has no such table.
        cursor.execute("SELECT to_regclass('contacts_consentrecord') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("TRUNCATE contacts_consentrecord")
        cursor.execute("CHECKPOINT")
    from contacts import services

    server = BackendCpu(args.db)
    for label in ("fresh", "again"):
        started, cpu, backend = time.perf_counter(), time.process_time(), server.total()
        with path.open("rb") as f:
            job = services.import_job_create(file=f, original_name=path.name, start=False)
        job = services.import_job_run(job_id=job.pk)
        print(
            f"{label}: {time.perf_counter() - started:.2f} s  cpu {time.process_time() - cpu:.2f} s  "
            f"server cpu {server.total() - backend:.2f} s  {job.message}",
            flush=True,
        )
    server.stop.set()


if __name__ == "__main__":
    main(sys.argv[1:])
