"""Import a generated contacts CSV twice in this process (fresh, then the same file again) and print each wall time
and this process's CPU time, with the merge's per-statement timings (`contacts.importing.merge` at DEBUG) on
stderr. A lighter A/B companion of `import_contacts` (no psql baseline, no child process): run it on two trees in
turn under the same load, each on its own database (`--db`).

    python -m bench import_inprocess [--rows 200000] [--db NAME]      # uses var/bench/contacts_<rows>.csv (import_contacts makes it)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from bench._common import ROOT, setup_django

DB_NAME = "herald_import_inprocess_bench"


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
    from contacts import services

    for label in ("fresh", "again"):
        started, cpu = time.perf_counter(), time.process_time()
        with path.open("rb") as f:
            job = services.import_job_create(file=f, original_name=path.name, start=False)
        job = services.import_job_run(job_id=job.pk)
        # This process's CPU (parse, encryption, COPY) is steadier than wall time on a shared machine.
        print(
            f"{label}: {time.perf_counter() - started:.2f} s  cpu {time.process_time() - cpu:.2f} s  {job.message}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
