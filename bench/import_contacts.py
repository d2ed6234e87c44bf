"""Import a generated contacts CSV through the product path, against `psql \\copy` of the same file.

    make bench BENCH="import_contacts"              # 1,000,000 rows
    make bench BENCH="import_contacts --rows 100000"

The file (var/bench/contacts_<rows>.csv): email, first_name, last_name, mobile, plan, score, joined; 5 % of the
rows repeat an earlier email (the later row wins), 1 % have an invalid email. The product path
(`import_job_create` + `import_job_run`: store the upload, stream, validate, COPY to staging, merge into contacts
and 3 typed attributes per contact) runs in a child process so its peak RSS is its own. The baseline is
`psql \\copy` of the same file into a table with the contacts table's indexes, in the same run.

A second reference, also in the same run: `psql \\copy` of exactly the rows the fresh import wrote (its contacts
and their attribute rows, dumped in id order) into empty tables made `LIKE` Herald's, with the same indexes,
constraints and generated columns. That is the least any import path with this data model can take on this
machine, before reading, validating or de-duplicating anything (`--no-own-rows` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from bench._common import ROOT, database_url, peak_rss_mb, print_table, setup_django, timed

DB_NAME = "herald_contacts_bench"
OUT_DIR = ROOT / "var" / "bench"
TARGET_SECONDS = 20.0
TARGET_RATIO = 2.5
TARGET_RSS_MB = 250.0

FIRST = ["Ann", "Bob", "Chloé", "Dev", "Eve", "Farid", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lena", "Mo", "Noor"]
LAST = ["Lee", "Ray", "Østergaard", "Patel", "Quinn", "Rossi", "Smith", "Tanaka", "Uribe", "Vos", "Wu", "Young"]
PLANS = ["free", "basic", "pro", "campus"]


def generate(path: Path, rows: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    unique = 0
    with tmp.open("w", encoding="utf-8", newline="") as out:
        out.write("email,first_name,last_name,mobile,plan,score,joined\n")
        for i in range(rows):
            roll = rng.random()
            if roll < 0.01:
                email = f"broken-{i}.example.com"
            elif roll < 0.06 and unique:
                email = f"user{rng.randrange(unique)}@example.com"
            else:
                email = f"user{unique}@example.com"
                unique += 1
            first, last = rng.choice(FIRST), rng.choice(LAST)
            out.write(
                f"{email},{first},{last},+44 7{rng.randrange(10**9):09d},{rng.choice(PLANS)},"
                f"{rng.randrange(1000)},2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}\n"
            )
    tmp.replace(path)


BASELINE_TABLE = """
DROP TABLE IF EXISTS bench_copy_baseline;
CREATE TABLE bench_copy_baseline (
    id bigserial PRIMARY KEY, email varchar(254), first_name varchar(150), last_name varchar(150),
    mobile varchar(40), plan text, score text, joined text, lms_lead_id varchar(100),
    status varchar(16) NOT NULL DEFAULT 'subscribed'
);
-- The contacts table's indexes. Email cannot be UNIQUE here: the file has duplicates (the product dedupes them).
CREATE INDEX bench_copy_email ON bench_copy_baseline (email);
CREATE INDEX bench_copy_email_prefix_id ON bench_copy_baseline (email varchar_pattern_ops, id);
CREATE UNIQUE INDEX bench_copy_lms ON bench_copy_baseline (lms_lead_id) WHERE lms_lead_id IS NOT NULL;
CREATE INDEX bench_copy_status_id ON bench_copy_baseline (status, id);
CREATE INDEX bench_copy_first ON bench_copy_baseline (lower(first_name) text_pattern_ops);
CREATE INDEX bench_copy_last ON bench_copy_baseline (lower(last_name) text_pattern_ops);
"""


def psql(sql: str) -> None:
    subprocess.run(["psql", database_url(DB_NAME), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)


def load() -> str:
    """The 1-minute load average: this machine is shared, so every figure is printed with it."""
    return f"{os.getloadavg()[0]:.1f}"


def baseline(path: Path) -> float:
    psql(BASELINE_TABLE)
    copy = (
        f"\\copy bench_copy_baseline (email, first_name, last_name, mobile, plan, score, joined) "
        f"FROM '{path}' WITH (FORMAT csv, HEADER true)"
    )
    with timed() as t:
        psql(copy)
    psql("DROP TABLE bench_copy_baseline")
    return t.seconds


# The tables the import writes, with the columns it writes, in the order of the rows' ids (the order it inserts).
OWN_TABLES = (
    (
        "contacts_contact",
        "id, email, first_name, last_name, mobile, lms_lead_id, status, unsubscribed_at, created_at, updated_at",
    ),
    ("contacts_contactattribute", "id, contact_id, field_name, field_type, field_value, created_at, updated_at"),
)


def own_rows_copy() -> tuple[float, int]:
    """(seconds, rows): `psql \\copy` of the rows the import wrote into empty copies of its tables, one after the
    other as psql would. Only the loads are timed, not the dumps."""
    seconds, rows = 0.0, 0
    for table, columns in OWN_TABLES:
        dump = OUT_DIR / f"own_{table}.tsv"
        scratch = f"bench_own_{table}"
        try:
            psql(f"\\copy (SELECT {columns} FROM {table} ORDER BY id) TO '{dump}'")
            psql(f"DROP TABLE IF EXISTS {scratch}; CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
            with timed() as t:
                psql(f"\\copy {scratch} ({columns}) FROM '{dump}'")
            seconds += t.seconds
            with dump.open("rb") as f:
                rows += sum(1 for _ in f)
        finally:
            psql(f"DROP TABLE IF EXISTS {scratch}")
            dump.unlink(missing_ok=True)
    return seconds, rows


def reset_contacts() -> None:
    psql(
        "TRUNCATE contacts_contact, contacts_contactattribute, contacts_funnelevent, contacts_batchmember, "
        "contacts_importjob CASCADE"
    )
    psql("VACUUM ANALYZE contacts_contact")


def child(path: Path) -> None:
    """The product path, measured inside this process: what a worker does for one uploaded file."""
    setup_django(DB_NAME)
    from contacts import services

    start_rss = peak_rss_mb()
    with timed() as t, path.open("rb") as f:
        job = services.import_job_create(file=f, original_name=path.name, kind="contacts", start=False)
        job = services.import_job_run(job_id=job.pk)
    print(
        json.dumps(
            {
                "seconds": t.seconds,
                "peak_rss_mb": peak_rss_mb(),
                "rss_before_mb": start_rss,
                "status": job.status,
                "message": job.message,
                "rows": job.rows_total,
                "created": job.created,
                "updated": job.updated,
                "unchanged": job.unchanged,
                "skipped": job.skipped,
                "errors": job.errors,
            }
        )
    )


def product(path: Path) -> dict[str, object]:
    env = {**os.environ, "DATABASE_URL": database_url(DB_NAME), "LOG_LEVEL": "WARNING"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.import_contacts", "--child", str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench import_contacts")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-reimport", action="store_true", help="skip the second (unchanged) import")
    parser.add_argument("--no-own-rows", action="store_true", help="skip the psql \\copy of the rows the import wrote")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return

    setup_django(DB_NAME)
    path = OUT_DIR / f"contacts_{args.rows}.csv"
    if not path.exists():
        with timed() as t:
            generate(path, args.rows)
        print(f"generated {path} ({path.stat().st_size / 1e6:.1f} MB) in {t.seconds:.1f}s")

    reset_contacts()
    # The machine is shared: the baseline runs before and after the product's fresh import, and the ratio is
    # taken against their mean, so a change of load during the run moves both sides.
    loads = [load()]
    copy_before = baseline(path)
    loads.append(load())
    first = product(path)
    loads.append(load())
    copy_after = baseline(path)
    loads.append(load())
    copy_seconds = (copy_before + copy_after) / 2
    own = None if args.no_own_rows else own_rows_copy()
    rows = [
        {
            "run": "psql \\copy (baseline, before)",
            "seconds": copy_before,
            "rows/s": int(args.rows / copy_before),
            "load avg": loads[1],
        },
        {
            "run": "psql \\copy (baseline, after)",
            "seconds": copy_after,
            "rows/s": int(args.rows / copy_after),
            "load avg": loads[3],
        },
        {
            "run": "product: fresh import",
            "seconds": first["seconds"],
            "rows/s": int(args.rows / float(first["seconds"])),  # type: ignore[arg-type]
            "x baseline": float(first["seconds"]) / copy_seconds,  # type: ignore[arg-type]
            "peak RSS MB": first["peak_rss_mb"],
            "load avg": loads[2],
        },
    ]
    if own is not None:
        rows.insert(
            2,
            {
                "run": f"psql \\copy of the {own[1]:,} rows written",
                "seconds": own[0],
                "rows/s": int(own[1] / own[0]),
                "load avg": load(),
                "x baseline": own[0] / copy_seconds,
            },
        )
        rows[-1]["x own rows"] = float(first["seconds"]) / own[0]  # type: ignore[arg-type]
    if not args.no_reimport:
        again = product(path)
        rows.append(
            {
                "run": "product: same file again",
                "seconds": again["seconds"],
                "rows/s": int(args.rows / float(again["seconds"])),  # type: ignore[arg-type]
                "x baseline": float(again["seconds"]) / copy_seconds,  # type: ignore[arg-type]
                "peak RSS MB": again["peak_rss_mb"],
                "load avg": load(),
            }
        )
    print_table(f"Import {args.rows:,} contacts rows (file {path.stat().st_size / 1e6:.1f} MB)", rows)
    counts = {k: first[k] for k in ("rows", "created", "updated", "unchanged", "skipped", "errors")}
    print(f"\nfresh import: {first['status']}: {first['message']}")
    print(f"counts: {counts}")
    if not args.no_reimport:
        print(f"same file again: {again['status']}: {again['message']}")
    seconds, ratio = float(first["seconds"]), float(first["seconds"]) / copy_seconds  # type: ignore[arg-type]
    rss = float(first["peak_rss_mb"])  # type: ignore[arg-type]
    print(
        f"\ntargets: <= {TARGET_SECONDS:.0f}s: {'met' if seconds <= TARGET_SECONDS else 'MISSED'} ({seconds:.1f}s); "
        f"<= {TARGET_RATIO}x psql: {'met' if ratio <= TARGET_RATIO else 'MISSED'} ({ratio:.2f}x); "
        f"<= {TARGET_RSS_MB:.0f} MB: {'met' if rss <= TARGET_RSS_MB else 'MISSED'} ({rss:.0f} MB)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
