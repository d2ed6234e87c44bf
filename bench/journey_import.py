"""A 200k-row contacts import with a `contact_created` journey active: what the journey trigger adds to the import.

    python -m bench journey_import [--rows 200000] [--rounds 1]

Three cases, each in its own child process (so its peak RSS is its own) on a freshly emptied database
(`herald_journey_import_bench`), importing the same file (var/bench/contacts_<rows>.csv, made by import_contacts):

- `baseline`: no journey active (the hook runs and finds nothing to do);
- `set-based`: one active `contact_created` journey, the product's hook (`journeys_on_new_rows`: one
  INSERT ... SELECT from the new rows' id range);
- `list` (before, kept here as the reference): the same journey with the hook as it was before (every new
  contact's id read into Python, then checked and inserted in chunks of 5,000 through an IN list).

Printed per case: the import's wall time (product path, hook included), the hook's own time, the enrollments
written, the child's peak RSS and its peak RSS when the hook started (the difference is what the hook added on top
of the import's own peak). Run the three cases alternately with `--rounds N` on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench._common import ROOT, peak_rss_mb, print_table, setup_django

DB_NAME = "herald_journey_import_bench"
CASES = ("baseline", "set-based", "list")
HOOK_SECONDS: list[float] = []
HOOK_RSS_MB: list[float] = []


def list_hook(*, after: dict[str, int]) -> int:
    """The hook before issue 16's follow-up, for the `list` case: new contact ids into Python, 5,000 at a time."""
    from automations.journey_enrollment import _enroll_rows
    from automations.journey_models import Journey
    from contacts.models import Contact

    total = 0
    for journey in Journey.objects.filter(status="active", trigger__type="contact_created"):
        rows = [
            (pk, f"contact:{pk}") for pk in Contact.objects.filter(pk__gt=after["contact"]).values_list("id", flat=True)
        ]
        total += len(_enroll_rows(journey, rows, now=time_now()))
    return total


def time_now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _timed(hook: Any) -> Any:
    def run(*, after: dict[str, int]) -> Any:
        HOOK_RSS_MB.append(peak_rss_mb())
        started = time.perf_counter()
        try:
            return hook(after=after)
        finally:
            HOOK_SECONDS.append(time.perf_counter() - started)

    return run


def child(case: str, rows: int) -> None:
    setup_django(DB_NAME)
    from django.conf import settings
    from django.db import connection

    from automations.journey_models import Enrollment
    from bench.journeys import _journey
    from contacts import services

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contacts_contact, contacts_contactattribute, contacts_importjob, contacts_consentrecord, "
            "automations_journey, automations_enrollment CASCADE"
        )
        cursor.execute("VACUUM ANALYZE contacts_contact")
    if case != "baseline":
        _journey(f"bench {case}", {"type": "contact_created"})
    from automations import journeys

    hook = list_hook if case == "list" else journeys.journeys_on_new_rows
    # Hooks are looked up by dotted path, and this file runs as __main__: put the timed wrapper on the module
    # that path imports, and read the timings from there.
    import bench.journey_import as me

    me.bench_hook = me._timed(hook)  # type: ignore[attr-defined]
    settings.CONTACT_EVENT_HOOKS = ["bench.journey_import.bench_hook"]
    path = ROOT / "var" / "bench" / f"contacts_{rows}.csv"
    started = time.perf_counter()
    with path.open("rb") as f:
        job = services.import_job_create(file=f, original_name=path.name, start=False)
    job = services.import_job_run(job_id=job.pk)
    wall = time.perf_counter() - started
    result = {
        "case": case,
        "import_s": wall,
        "hook_s": sum(me.HOOK_SECONDS),
        "status": job.status,
        "created": job.created,
        "enrolled": Enrollment.objects.count(),
        "peak_rss_mb": peak_rss_mb(),
        "rss_at_hook_mb": me.HOOK_RSS_MB[0] if me.HOOK_RSS_MB else 0.0,
    }
    if job.status != "done":
        print(f"import {job.status}: {job.message}", file=sys.stderr, flush=True)
    print("RESULT " + json.dumps(result), flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench journey_import")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", choices=CASES)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.rows)
        return
    path = ROOT / "var" / "bench" / f"contacts_{args.rows}.csv"
    if not path.exists():
        from bench.import_contacts import generate

        generate(path, args.rows)
    print(f"load average {os.getloadavg()}  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC", flush=True)
    results: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        for case in CASES:
            done = subprocess.run(
                [sys.executable, "-m", "bench", "journey_import", "--child", case, "--rows", str(args.rows)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
            results.append({"round": round_no + 1, **json.loads(line[len("RESULT ") :])})
            if results[-1]["status"] != "done":
                print(done.stderr[-2000:], flush=True)
            print(results[-1], flush=True)
    for row in results:
        row["hook_added_rss_mb"] = max(0.0, row["peak_rss_mb"] - row["rss_at_hook_mb"])
    print_table(f"{args.rows:,}-row import with a contact_created journey", results)
    print(f"load average {os.getloadavg()}  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
