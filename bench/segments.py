"""Rules segment count over 1M contacts vs the same hand-written SQL through psql, in one run.

    make bench BENCH="segments"                     # 1M contacts (seeded once into herald_segments_bench)
    make bench BENCH="segments --contacts 200000"   # smaller, for iterating
    make bench BENCH="segments --reseed"            # drop the seeded data and seed again

Data: every contact has three attributes (score: numeric 0-99, city: one of 20 strings, enrolled_on: a date) and
two funnel events on average spread over the last 180 days; 90 % are subscribed.

The segment (4 conditions, attribute + funnel event + status, AND/OR):

    status = subscribed AND score > 70 AND (moved to 'applied' within 30 days OR city in (Oslo, Bergen))

Timed: `segments.selectors.segment_count()` (rules compiled to one SQL statement, executed by Django with JIT off,
warm cache, median of --repeat runs) against the hand-written query run by `psql` with `\\timing` in the same run,
both with the server's defaults and with `jit = off`; the ratio is taken against the faster of the two.
Targets (ARCHITECTURE §6): <= 0.5 s and <= 2.5 x the hand-written SQL.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import database_url, print_table, setup_django, timed

DB_NAME = "herald_segments_bench"

RULES = {
    "op": "and",
    "conditions": [
        {"field": "contact.status", "operator": "eq", "value": "subscribed"},
        {"attribute": "score", "type": "numeric", "operator": "gt", "value": 70},
        {
            "op": "or",
            "conditions": [
                {"event": {"to_stage": "applied", "within_days": 30}},
                {"attribute": "city", "type": "string", "operator": "in", "value": ["Oslo", "Bergen"]},
            ],
        },
    ],
}

HAND_SQL = """
SELECT count(*) FROM contacts_contact c
WHERE c.status = 'subscribed'
  AND EXISTS (SELECT 1 FROM contacts_contactattribute a
              WHERE a.contact_id = c.id AND a.field_name = 'score' AND (a.field_value)::numeric > 70)
  AND (EXISTS (SELECT 1 FROM contacts_funnelevent e
               WHERE e.contact_id = c.id AND e.to_stage = 'applied' AND e.created_at >= now() - interval '30 days')
       OR EXISTS (SELECT 1 FROM contacts_contactattribute a
                  WHERE a.contact_id = c.id AND a.field_name = 'city' AND a.field_value #>> '{}' IN ('Oslo', 'Bergen')))
"""

# The same query written set-based on the typed value columns the segment indexes (contacts 0005) cover (second
# baseline).
HAND_SQL_UNION = """
SELECT count(*) FROM contacts_contact c
WHERE c.status = 'subscribed'
  AND c.id IN (SELECT contact_id FROM contacts_contactattribute WHERE field_name = 'score' AND value_num > 70)
  AND c.id IN (SELECT contact_id FROM contacts_funnelevent
               WHERE to_stage = 'applied' AND created_at >= now() - interval '30 days'
               UNION
               SELECT contact_id FROM contacts_contactattribute
               WHERE field_name = 'city' AND value_text IN ('Oslo', 'Bergen'))
"""

# The indexes the compiled SQL uses for index-only scans: migrated by contacts/migrations/0005_segment_indexes.py, so
# a migrated bench database has them. `--drop-proposed-indexes` drops them (to time the query without them) and
# `--proposed-indexes` puts them back.
PROPOSED_INDEXES = {
    "contact_attribute_number": "CREATE INDEX IF NOT EXISTS contact_attribute_number ON contacts_contactattribute "
    "(field_name, value_num, contact_id) WHERE value_num IS NOT NULL",
    "contact_attribute_string": "CREATE INDEX IF NOT EXISTS contact_attribute_string ON contacts_contactattribute "
    "(field_name, value_text, contact_id) WHERE value_text IS NOT NULL",
    "funnel_stage_created_contact": "CREATE INDEX IF NOT EXISTS funnel_stage_created_contact ON contacts_funnelevent "
    "(to_stage, created_at) INCLUDE (contact_id)",
}


def _check_same(count: int, expected: int, what: str) -> None:
    """Counts taken seconds apart: "within 30 days" moves with the clock, and with ~11k events a day over the
    seeded 180 days an event crosses the boundary every few seconds. More than that is a wrong query."""
    if abs(count - expected) > max(5, expected // 1000):
        raise SystemExit(f"{what} counts {count:,} but the segment counts {expected:,}")


def present_indexes() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname = ANY(%s)", [list(PROPOSED_INDEXES)])
        return sorted(row[0] for row in cursor.fetchall())


def set_proposed_indexes(*, present: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for name, ddl in PROPOSED_INDEXES.items():
            cursor.execute(ddl if present else f"DROP INDEX IF EXISTS {name}")
        cursor.execute("VACUUM ANALYZE contacts_contactattribute")
        cursor.execute("VACUUM ANALYZE contacts_funnelevent")


CITIES = [
    "Oslo",
    "Bergen",
    "Trondheim",
    "Stavanger",
    "Lagos",
    "Nairobi",
    "Accra",
    "Delhi",
    "Mumbai",
    "Pune",
    "Dhaka",
    "Lima",
    "Quito",
    "Austin",
    "Leeds",
    "Cork",
    "Perth",
    "Hobart",
    "Dakar",
    "Tunis",
]
STAGES = ["lead", "contacted", "applied", "admitted", "enrolled"]


def seeded_contacts() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM contacts_contact WHERE email LIKE 'bench-seg-%'")
        return int(cursor.fetchone()[0])


def seed(n: int) -> float:
    """Set-based seed: three INSERT ... SELECT generate_series statements, then ANALYZE."""
    from django.db import connection

    cities = "ARRAY[" + ",".join(f"'{c}'" for c in CITIES) + "]"
    stages = "ARRAY[" + ",".join(f"'{s}'" for s in STAGES) + "]"
    with timed() as t, connection.cursor() as cursor:
        cursor.execute("TRUNCATE contacts_contact CASCADE")
        cursor.execute(
            """
            INSERT INTO contacts_contact (email, first_name, last_name, mobile, status, created_at, updated_at)
            SELECT 'bench-seg-' || g || '@example.org', 'First' || g, 'Last' || g, '',
                   CASE WHEN g %% 10 = 0 THEN 'unsubscribed' ELSE 'subscribed' END,
                   now() - (g %% 365) * interval '1 day', now()
            FROM generate_series(1, %s) AS g
            """,
            [n],
        )
        cursor.execute(
            f"""
            INSERT INTO contacts_contactattribute (contact_id, field_name, field_type, field_value, created_at, updated_at)
            SELECT c.id, a.name, a.type, a.value, now(), now()
            FROM contacts_contact c
            CROSS JOIN LATERAL (VALUES
                ('score', 'numeric', to_jsonb((hashint4(c.id::int) & 2147483647) % 100)),
                ('city', 'string', to_jsonb(({cities})[1 + (hashint4(c.id::int + 7) & 2147483647) % 20])),
                ('enrolled_on', 'date', to_jsonb((date '2020-01-01' + (c.id % 2000)::int)::text))
            ) AS a(name, type, value)
            """
        )
        cursor.execute(
            f"""
            INSERT INTO contacts_funnelevent (contact_id, funnel_type, from_stage, to_stage, created_at)
            SELECT c.id, 'sales', '', ({stages})[1 + (hashint4(c.id::int * 3 + k) & 2147483647) % 5],
                   now() - ((hashint4(c.id::int * 5 + k) & 2147483647) % (180 * 24)) * interval '1 hour'
            FROM contacts_contact c CROSS JOIN generate_series(1, 2) AS k
            """
        )
    # What autovacuum does to a loaded table before long: visibility map and hint bits set, so index-only
    # scans skip the heap. Django runs in autocommit, so VACUUM is not inside a transaction block.
    with connection.cursor() as cursor:
        for table in ("contacts_contact", "contacts_contactattribute", "contacts_funnelevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return t.seconds


def psql_times(sql: str, repeat: int, *, jit: bool = True) -> list[float]:
    """Run `sql` `repeat` times in one psql session with \\timing; the server-round-trip times in seconds."""
    script = ("" if jit else "SET jit = off;\n") + "\\timing on\n" + "".join(f"{sql.strip()};\n" for _ in range(repeat))
    url = database_url(DB_NAME)
    out = subprocess.run(
        ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
        input=script,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [float(ms) / 1000 for ms in re.findall(r"Time: ([\d.]+) ms", out)]


def backend_cpu_seconds(sql: str, repeat: int) -> float:
    """Median CPU time (user + system) the PostgreSQL backend spent on `sql`, read from /proc/<backend pid>/stat.

    Parallel workers are disabled for this measurement so that all the work is in the one backend process.
    Wall time on a shared machine includes waiting for a CPU; this does not (it still pays for cache contention).
    Returns NaN when the server's processes are not visible (PostgreSQL on another host).
    """
    from django.db import connection

    ticks = os.sysconf("SC_CLK_TCK")
    runs: list[float] = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat = Path(f"/proc/{cursor.fetchone()[0]}/stat")
        if not stat.exists():
            return float("nan")
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute("SET jit = off")
        for _ in range(repeat + 1):
            before = stat.read_text().rsplit(")", 1)[1].split()
            cursor.execute(sql)
            cursor.fetchall()
            after = stat.read_text().rsplit(")", 1)[1].split()
            # fields 14 and 15 of /proc/pid/stat (utime, stime) are at 11 and 12 after the command name.
            runs.append((int(after[11]) + int(after[12]) - int(before[11]) - int(before[12])) / ticks)
        cursor.execute("RESET max_parallel_workers_per_gather")
        cursor.execute("RESET jit")
    return statistics.median(runs[1:])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench segments", description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument(
        "--proposed-indexes",
        action="store_true",
        help="re-create the segment indexes (migration 0005) after --drop-proposed-indexes",
    )
    parser.add_argument(
        "--drop-proposed-indexes", action="store_true", help="drop the segment indexes, to time the query without them"
    )
    args = parser.parse_args(argv)

    setup_django(DB_NAME)
    from django.db import connection

    from segments.models import Segment
    from segments.selectors import segment_count, segment_sql_text

    seed_seconds = 0.0
    if args.reseed or seeded_contacts() != args.contacts:
        print(f"seeding {args.contacts:,} contacts, {3 * args.contacts:,} attributes, {2 * args.contacts:,} events ...")
        seed_seconds = seed(args.contacts)
        print(f"seeded in {seed_seconds:.1f} s")

    if args.proposed_indexes or args.drop_proposed_indexes:
        set_proposed_indexes(present=args.proposed_indexes)
    indexes = present_indexes()
    print("segment indexes present:", ", ".join(indexes) or "none")

    segment = Segment(name="bench", type=Segment.Type.RULES, rules=RULES)
    product_sql = segment_sql_text(segment=segment)
    count_sql = f"SELECT count(*) FROM ({product_sql}) AS q"

    # Warm-up (caches, plans) for both paths.
    expected = segment_count(segment=segment)
    hand_runs = psql_times(HAND_SQL, args.repeat + 1)[1:]
    hand_nojit_runs = psql_times(HAND_SQL, args.repeat + 1, jit=False)[1:]
    union_runs = psql_times(HAND_SQL_UNION, args.repeat + 1, jit=False)[1:]
    product_runs: list[float] = []
    for _ in range(args.repeat):
        with timed() as t:
            count = segment_count(segment=segment)
        product_runs.append(t.seconds)
        _check_same(count, expected, "the segment, run again")
    compiled_psql_runs = psql_times(count_sql, args.repeat + 1, jit=False)[1:]

    for sql in (HAND_SQL, HAND_SQL_UNION):
        with connection.cursor() as cursor:
            cursor.execute(sql)
            hand_count = int(cursor.fetchone()[0])
        _check_same(hand_count, expected, "a hand-written query")

    cpu_hand_union = backend_cpu_seconds(HAND_SQL_UNION, args.repeat)
    cpu_compiled = backend_cpu_seconds(count_sql, args.repeat)

    product = statistics.median(product_runs)
    hand_default = statistics.median(hand_runs)
    hand_nojit = statistics.median(hand_nojit_runs)
    hand_union = statistics.median(union_runs)
    # The stricter baseline: the fastest way psql ran a hand-written query.
    hand = min(hand_default, hand_nojit, hand_union)
    compiled = statistics.median(compiled_psql_runs)
    print_table(
        f"Rules segment count over {args.contacts:,} contacts ({expected:,} match); median of {args.repeat} warm runs; "
        f"segment indexes: {', '.join(indexes) or 'none'}",
        [
            {
                "path": "hand-written SQL via psql, server defaults",
                "seconds": hand_default,
                "x baseline": hand_default / hand,
            },
            {"path": "hand-written SQL via psql, jit off", "seconds": hand_nojit, "x baseline": hand_nojit / hand},
            {
                "path": "hand-written UNION form via psql, jit off",
                "seconds": hand_union,
                "x baseline": hand_union / hand,
            },
            {"path": "compiled rules SQL via psql, jit off", "seconds": compiled, "x baseline": compiled / hand},
            {
                "path": "segment_count() (compile + Django + psycopg)",
                "seconds": product,
                "x baseline": product / hand,
                "target": "<= 0.5 s, <= 2.5 x",
                "ok": "yes" if product <= 0.5 and product / hand <= 2.5 else "NO",
            },
        ],
    )
    print_table(
        "CPU time of the PostgreSQL backend (no parallel workers, jit off), median: what one idle core would spend",
        [
            {"query": "hand-written UNION form", "backend CPU s": cpu_hand_union},
            {
                "query": "compiled rules SQL",
                "backend CPU s": cpu_compiled,
                "x hand-written": cpu_compiled / cpu_hand_union,
            },
        ],
    )
    print("\nThe compiled SQL:\n" + product_sql)
    if seed_seconds:
        print(f"\n(seed took {seed_seconds:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
