"""The tracking store on SQLite, the embedded default's database (`make run`: no PostgreSQL, no Redis).

The store has SQLite branches of its own (bulk_create with ignore_conflicts, one UPDATE per delivery for the first
human times, an IN lookup of stored event keys) that a PostgreSQL-bound test process never takes. A separate
process (tests/delivery/sqlite_tracking_run.py) runs the pixel, the redirect and the store there once for this
module; each test checks one behaviour of what it saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings

HUMAN = {"classification": "human", "rule": ""}


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("tracking_sqlite")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TRACKING_BUFFER", "DATABASE_URL")}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'embedded.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "HERALD_BROKER_DIR": str(tmp / "broker"),
            "HERALD_MEDIA_ROOT": str(tmp / "media"),
            "LOG_LEVEL": "WARNING",
            # Only the flush scenario uses Redis (this test run's own database): the rest runs without it.
            "TRACKING_SQLITE_FLUSH_REDIS_URL": str(settings.REDIS_URL),
        }
    )
    out = subprocess.run(
        [sys.executable, "-m", "tests.delivery.sqlite_tracking_run"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _picked(events: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: e[k] for k in keys} for e in events]


def test_the_run_is_on_sqlite_and_stores_hits_directly_without_redis(seen: dict[str, Any]) -> None:
    assert (seen["vendor"], seen["mode"]) == ("sqlite", "direct")


def test_a_pixel_hit_is_stored_by_its_request_as_a_human_open(seen: dict[str, Any]) -> None:
    opened = seen["open"]

    assert opened["status"] == [200, 200]
    assert opened["content_type"] == "image/gif"
    assert _picked(opened["events"][:1], "kind", "source", "classification", "rule", "method", "ip") == [
        {"kind": "open", "source": "pixel", **HUMAN, "method": "GET", "ip": "127.0.0.1"}
    ]


def test_the_first_human_open_sets_opened_at_and_a_second_open_keeps_it(seen: dict[str, Any]) -> None:
    opened = seen["open"]

    assert len(opened["events"]) == 2
    assert opened["after_first"]["opened_at"] == opened["events"][0]["created_at"]
    assert opened["after_second"] == opened["after_first"]


def test_a_click_hit_redirects_and_is_stored_as_a_human_click(seen: dict[str, Any]) -> None:
    click = seen["click"]

    assert (click["status"], click["location"]) == (302, "https://example.com/offer?a=1&b=2")
    assert _picked(click["events"], "kind", "source", "classification", "url", "link_index") == [
        {"kind": "click", "source": "redirect", "classification": "human", "url": click["location"], "link_index": 0}
    ]


def test_a_human_click_sets_clicked_at_and_opened_at(seen: dict[str, Any]) -> None:
    click = seen["click"]
    at = click["events"][0]["created_at"]

    assert click["times"] == {"opened_at": at, "clicked_at": at}


def test_machine_hits_are_kept_with_their_rule_and_set_no_first_times(seen: dict[str, Any]) -> None:
    machine = seen["machine"]

    assert machine["status"] == [200, 302]
    assert _picked(machine["events"], "kind", "classification", "rule") == [
        {"kind": "open", "classification": "machine", "rule": "bot-ua"},
        {"kind": "click", "classification": "machine", "rule": "head-request"},
    ]
    assert machine["times"] == {"opened_at": None, "clicked_at": None}


def test_a_forged_click_token_is_refused_and_nothing_is_stored(seen: dict[str, Any]) -> None:
    assert seen["forged"] == {"status": 400, "location": None, "events": []}


def test_the_same_hit_stored_twice_is_one_event(seen: dict[str, Any]) -> None:
    repeat = seen["repeat"]

    assert repeat["inserted"] == [1, 0]
    assert len(repeat["events"]) == 1
    assert repeat["times"]["opened_at"] == repeat["events"][0]["created_at"]


def test_a_batch_over_several_deliveries_sets_each_ones_first_human_times(seen: dict[str, Any]) -> None:
    batch = seen["batch"]
    a_open, a_click = batch["a"]["events"]
    b_bot, b_human = batch["b"]["events"]

    assert batch["inserted"] == 4
    assert batch["a"]["times"] == {"opened_at": a_open["created_at"], "clicked_at": a_click["created_at"]}
    assert (b_bot["rule"], b_human["classification"]) == ("bot-ua", "human")
    assert batch["b"]["times"] == {"opened_at": b_human["created_at"], "clicked_at": None}


def test_a_hit_stored_late_with_an_earlier_time_moves_opened_at_back(seen: dict[str, Any]) -> None:
    late = seen["late"]

    assert late["before"] != late["after"]
    assert late["after"]["opened_at"] == late["earliest"]


def test_hits_of_a_deleted_delivery_are_dropped(seen: dict[str, Any]) -> None:
    assert seen["batch"]["gone"] == 0


def test_a_scanner_burst_over_two_batches_reclassifies_the_stored_click_and_clears_the_first_times(
    seen: dict[str, Any],
) -> None:
    burst = seen["burst"]

    assert burst["after_one"]["clicked_at"] is not None
    assert {(e["classification"], e["rule"]) for e in burst["events"]} == {("machine", "scanner-burst")}
    assert len(burst["events"]) == 3
    assert burst["after_all"] == {"opened_at": None, "clicked_at": None}


def test_the_redis_buffer_flush_stores_its_hits_on_sqlite_once(seen: dict[str, Any]) -> None:
    flush = seen["flush"]

    assert flush["statuses"] == [200, 302]
    assert (flush["waiting"], flush["stored_before_flush"]) == (2, 0)
    assert (flush["flushed"], flush["left"], flush["again"]) == (2, 0, 0)
    assert _picked(flush["events"], "kind", "classification") == [
        {"kind": "open", "classification": "human"},
        {"kind": "click", "classification": "human"},
    ]
    assert flush["times"]["clicked_at"] == flush["events"][1]["created_at"]
