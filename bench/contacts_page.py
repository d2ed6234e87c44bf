"""Server time of the Customers page at 1M contacts: page 1 and a deep page, unfiltered and searched by email
prefix, through the whole Django stack (test Client: middleware, view, selector, template).

    make bench BENCH="contacts_page"                  # 1,000,000 contacts
    make bench BENCH="contacts_page --contacts 200000 --repeat 3"

Baseline in the same run: what a stock Django list does for the same deep page (`Paginator`: COUNT(*) of the
matches, then OFFSET), measured as SQL only, so it is a lower bound of that page's time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any

from bench._common import print_table, setup_django, timed

DB_NAME = "herald_contacts_bench"
TARGET_MS = 200.0
PAGE = 50

FILL_SQL = """
INSERT INTO contacts_contact (email, first_name, last_name, mobile, lms_lead_id, status, created_at, updated_at)
SELECT lower(f.name) || '.' || lower(l.name) || n || '@' || (ARRAY['example.com','mail.test','campus.ac'])[1 + n %% 3],
       f.name, l.name, '+44 7' || lpad((n::bigint * 7919 %% 1000000000)::text, 9, '0'), 'L-' || n,
       CASE WHEN n %% 50 = 0 THEN 'unsubscribed' ELSE 'subscribed' END, now(), now()
FROM generate_series(%s, %s) AS n
JOIN (SELECT row_number() OVER () - 1 AS i, name FROM unnest(ARRAY['Ann','Bob','Chloe','Dev','Eve','Farid','Gia',
      'Hugo','Ines','Jon','Kai','Lena','Mo','Noor','Omar','Pia','Quinn','Rosa','Sam','Tara','Uma','Viktor',
      'Wen','Xavi','Yara','Zoe']) AS name) f ON f.i = n %% 26
JOIN (SELECT row_number() OVER () - 1 AS i, name FROM unnest(ARRAY['Lee','Ray','Patel','Quinn','Rossi','Smith',
      'Tanaka','Uribe','Vos','Wu','Young','Ahmed','Brown','Costa','Diaz','Evans','Fischer']) AS name) l
  ON l.i = (n / 26) %% 17
"""


def ensure_contacts(target: int) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM contacts_contact")
        have = cursor.fetchone()[0]
        if have != target:
            print(f"filling contacts_contact with {target:,} rows (had {have:,}) ...", flush=True)
            cursor.execute(
                "TRUNCATE contacts_contact, contacts_contactattribute, contacts_funnelevent, "
                "contacts_batchmember, contacts_importjob CASCADE"
            )
            step = 250_000
            for start in range(1, target + 1, step):
                cursor.execute(FILL_SQL, [start, min(start + step - 1, target)])
        cursor.execute("VACUUM ANALYZE contacts_contact")
    return target


def measure(client: Any, url: str, params: dict[str, Any], repeat: int) -> tuple[float, float, int]:
    times = []
    response = None
    for _ in range(repeat):
        with timed() as t:
            response = client.get(url, params)
        times.append(t.seconds * 1000)
    assert response is not None and response.status_code == 200, response
    return statistics.median(times), max(times), len(response.context["page"].items)


def baseline_offset_ms(where: str, params: list[Any], offset: int, repeat: int) -> float:
    """A stock Django list for the same rows: COUNT(*) of the matches, then LIMIT/OFFSET (SQL only)."""
    from django.db import connection

    times = []
    for _ in range(repeat):
        with timed() as t, connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM contacts_contact WHERE {where}", params)
            cursor.fetchone()
            cursor.execute(
                f"SELECT * FROM contacts_contact WHERE {where} ORDER BY id DESC LIMIT {PAGE} OFFSET {offset}", params
            )
            cursor.fetchall()
        times.append(t.seconds * 1000)
    return statistics.median(times)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench contacts_page")
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)

    setup_django(DB_NAME)
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from accounts import roles

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    setup_test_environment()  # the test Client exposes response.context
    with timed() as fill:
        ensure_contacts(args.contacts)
    print(f"contacts ready in {fill.seconds:.1f}s")

    user, _ = User.objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get(name=roles.VIEWER))
    client = Client()
    client.force_login(user)
    url = reverse("contacts:list")

    prefix = "ann.lee"
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM contacts_contact")
        min_id = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM contacts_contact WHERE email LIKE %s", [prefix + "%"])
        matches = cursor.fetchone()[0]
        deep_offset = max(0, matches - 2 * PAGE)
        cursor.execute(
            "SELECT id FROM contacts_contact WHERE email LIKE %s ORDER BY id DESC OFFSET %s LIMIT 1",
            [prefix + "%", deep_offset],
        )
        deep_search_after = cursor.fetchone()[0]
    deep_offset_all = args.contacts - 2 * PAGE

    cases = [
        ("all, page 1", {}),
        (f"all, deep page (~row {deep_offset_all:,})", {"after": min_id + 2 * PAGE}),
        (f"email prefix '{prefix}', page 1", {"q": prefix}),
        (
            f"email prefix '{prefix}', deep page (~match {deep_offset:,} of {matches:,})",
            {"q": prefix, "after": deep_search_after},
        ),
        ("name 'ann lee', page 1", {"q": "ann lee"}),
        ("status unsubscribed, page 1", {"status": "unsubscribed"}),
    ]
    measure(client, url, {}, 1)  # warm up: connection, templates, caches
    rows = []
    worst = 0.0
    for label, params in cases:
        median, slowest, count = measure(client, url, params, args.repeat)
        worst = max(worst, median)
        rows.append({"request": label, "median ms": median, "max ms": slowest, "rows": count})
    rows.append(
        {
            "request": f"baseline: COUNT(*) + OFFSET {deep_offset_all:,} (SQL only)",
            "median ms": baseline_offset_ms("true", [], deep_offset_all, args.repeat),
        }
    )
    rows.append(
        {
            "request": f"baseline: '{prefix}' COUNT(*) + OFFSET {deep_offset:,} (SQL only)",
            "median ms": baseline_offset_ms("email LIKE %s", [prefix + "%"], deep_offset, args.repeat),
        }
    )
    print_table(f"Customers page at {args.contacts:,} contacts (server time, {args.repeat} runs each)", rows)
    print(
        f"\ntarget: every page <= {TARGET_MS:.0f} ms median: {'met' if worst <= TARGET_MS else 'MISSED'} (worst {worst:.1f} ms)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
