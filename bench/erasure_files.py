"""A GDPR erasure with many unrelated import files stored: the files it opens and its time.

    python -m bench erasure_files [--imports 200] [--rows 2000] [--keep-uploads] [--rounds 3]
    python -m bench erasure_files --imports 50 --rows 20000 --keep-uploads     # the figure in docs/benchmarks.md

Imports `--imports` files of `--rows` contacts each through the product path (every file with 2 % rejected rows,
so each leaves an error report; with `--keep-uploads` the uploads are kept too), then one more file holding the
address to erase, on its own database (`herald_erasure_files_bench`, emptied first) and MEDIA_ROOT
(var/bench/erasure_media). Then, alternately (`--rounds`, default 3), the erasure's import-file step
(`contacts.import_files.import_files_scrub`) and, as the reference, the step as it was before (every stored upload
and error report read in full, `reference_scrub` below), each on a fresh address holding file: files opened and
time of each.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import sys
import time
from typing import Any

from bench._common import ROOT, print_table, setup_django

DB_NAME = "herald_erasure_files_bench"
MEDIA = ROOT / "var" / "bench" / "erasure_media"


def reference_scrub(address: str) -> tuple[int, int]:
    """The erasure's import-file step before the index: read every stored file in full, rewrite those holding the
    address (streaming, as it did). Returns (files opened, files rewritten)."""
    from contacts.models import ImportJob

    needle = address.encode()
    opened = rewritten = 0
    for job in ImportJob.objects.only("pk", "file", "error_report").iterator():
        for stored in (job.file, job.error_report):
            if not stored:
                continue
            opened += 1
            with stored.open("rb") as f:
                if not any(needle in line.lower() for line in f):
                    continue
            with stored.open("rb") as f:
                kept = b"".join(line for line in f if needle not in line.lower())
            with stored.storage.open(str(stored.name), "wb") as out:
                out.write(kept)
            rewritten += 1
    return opened, rewritten


def _file(prefix: str, rows: int, extra: str = "") -> bytes:
    lines = ["email,first_name,status"]
    for i in range(rows):
        lines.append(f"{prefix}{i}@bench.example,N{i},{'maybe' if i % 50 == 0 else 'subscribed'}")
    if extra:
        lines += [f"{extra},Target,subscribed", f"{extra},Target,maybe"]
    return ("\n".join(lines) + "\n").encode()


def _import(data: bytes) -> None:
    from contacts import services

    job = services.import_job_create(file=io.BytesIO(data), original_name="bench.csv", start=False)
    services.import_job_run(job_id=job.pk)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench erasure_files")
    parser.add_argument("--imports", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-uploads", action="store_true")
    args = parser.parse_args(argv)
    shutil.rmtree(MEDIA, ignore_errors=True)
    MEDIA.mkdir(parents=True)
    os.environ["HERALD_MEDIA_ROOT"] = str(MEDIA)
    setup_django(DB_NAME)
    from django.conf import settings
    from django.core.files.storage import FileSystemStorage
    from django.db import connection

    from contacts.import_files import import_files_scrub
    from contacts.models import ImportJob

    logging.getLogger("contacts.services").setLevel(logging.WARNING)  # one INFO line per import
    settings.MEDIA_ROOT = str(MEDIA)
    settings.HERALD_IMPORT_KEEP_UPLOADS_DAYS = 30 if args.keep_uploads else 0
    settings.CONTACT_EVENT_HOOKS = []
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE contacts_contact, contacts_importjob, contacts_consentrecord CASCADE")
    print(f"load average {os.getloadavg()}  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC", flush=True)
    started = time.perf_counter()
    for n in range(args.imports):
        _import(_file(f"u{n}-", args.rows))
    files = sum(bool(j.file) + bool(j.error_report) for j in ImportJob.objects.all())
    print(f"{args.imports} unrelated imports, {files} stored files, in {time.perf_counter() - started:.1f} s")
    results: list[dict[str, Any]] = []
    for round_no in range(args.rounds):
        for case in ("index", "reference"):
            address = f"target-{round_no}-{case}@bench.example"
            _import(_file(f"t{round_no}{case}-", 10, extra=address))
            opened: list[str] = []
            real_open = FileSystemStorage._open  # type: ignore[attr-defined]

            def spy(self: Any, name: str, mode: str = "rb", _log: list[str] = opened, _real: Any = real_open) -> Any:
                _log.append(name)
                return _real(self, name, mode)

            FileSystemStorage._open = spy  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            try:
                if case == "index":
                    rewritten = import_files_scrub(email=address)
                else:
                    _, rewritten = reference_scrub(address)
            finally:
                FileSystemStorage._open = real_open  # type: ignore[attr-defined]
            seconds = time.perf_counter() - t0
            results.append(
                {
                    "round": round_no + 1,
                    "case": case,
                    "files_stored": files,
                    "distinct_files_opened": len(set(opened)),
                    "files_rewritten": rewritten,
                    "seconds": seconds,
                }
            )
    print_table(f"erasure's import-file step, {args.imports} unrelated imports of {args.rows:,} rows", results)
    print(f"load average {os.getloadavg()}  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
