"""The tracking spool (delivery/services/tracking_spool.py): hits appended to a file of the web process, shipped to
the Redis buffer by its shipper, recovered from processes that died, stored directly when Redis is down."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import OperationalError

from delivery.models import Delivery, TrackingEvent
from delivery.services import tracking, tracking_spool, tracking_store
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


@pytest.fixture(autouse=True)
def spool(tmp_path: Path, settings: Any) -> Iterator[Path]:
    settings.TRACKING_SPOOL_DIR = tmp_path / "spool"
    client = redis.Redis.from_url(settings.REDIS_URL)
    tracking_spool.spool_drain(sink=lambda lines: None)  # hits other tests' requests left in this process's spool
    client.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)
    yield tmp_path / "spool"
    tracking_spool.shipper_stop()
    tracking_spool.spool_drain(sink=lambda lines: None)  # what a test left in the spool is not the next one's
    client.delete(tracking.BUFFER_KEY, tracking.LOCK_KEY)


@pytest.fixture
def delivery() -> Delivery:
    send = started_send(make_contacts(1))
    sent_at = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    Delivery.objects.filter(send=send).update(status=Delivery.Status.SENT, sent_at=sent_at)
    return Delivery.objects.get(send=send)


def _hit(d: Delivery) -> tracking.Hit:
    return tracking.hit_new(kind="open", source="pixel", delivery_id=d.pk, send_id=d.send_id, user_agent=CHROME)


def _record(d: Delivery, n: int) -> None:
    for _ in range(n):
        assert tracking.tracking_hit_record(hit=_hit(d)) == "spooled"


def _redis_down(monkeypatch: pytest.MonkeyPatch) -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.25)  # nothing listens there
    for timeout in (0.5, 2.0):
        monkeypatch.setitem(tracking._clients, (django_settings.REDIS_URL, timeout), down)


# A web process of its own: records `n` hits of a delivery into the spool directory, says so, then waits to be
# killed (SIGKILL: no atexit, no shipping) or exits normally (its atexit hook ships what is left).
WRITER = """
import sys, time, django
django.setup()
from delivery.services import tracking
n, delivery_id, send_id, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for _ in range(n):
    hit = tracking.hit_new(kind="open", source="pixel", delivery_id=delivery_id, send_id=send_id, user_agent="x")
    assert tracking.tracking_hit_record(hit=hit) == "spooled"
print("written", flush=True)
if mode == "wait":
    time.sleep(60)
"""


def _writer(spool: Path, d: Delivery, n: int, mode: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "HERALD_TRACKING_SPOOL_DIR": str(spool),
        "TRACKING_BUFFER": "redis",
        "TRACKING_SPOOL_SHIPPER": "false",
        "REDIS_URL": str(django_settings.REDIS_URL),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(n), str(d.pk), str(d.send_id), mode],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    return proc


@pytest.fixture
def live_writer(spool: Path, delivery: Delivery) -> Iterator[subprocess.Popen[str]]:
    proc = _writer(spool, delivery, 40, "wait")
    yield proc
    proc.kill()
    proc.wait(10)


# --- the way through ---------------------------------------------------------------------------------------------


def test_a_spooled_hit_is_one_row_after_the_ship_and_the_flush_however_often_both_run(delivery: Delivery) -> None:
    _record(delivery, 1)

    shipped = [tracking_spool.spool_ship(), tracking_spool.spool_ship()]
    flushed = [tracking.tracking_buffer_flush(), tracking.tracking_buffer_flush()]

    assert (shipped, flushed) == ([1, 0], [1, 0])
    assert TrackingEvent.objects.count() == 1


def test_the_shipper_thread_moves_hits_to_the_buffer_by_itself(delivery: Delivery) -> None:
    tracking_spool.shipper_start()
    _record(delivery, 3)

    deadline = time.monotonic() + 5
    while tracking.tracking_buffer_length() < 3 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert tracking.tracking_buffer_length() == 3


def test_a_torn_last_line_is_not_shipped_until_it_is_complete(delivery: Delivery, spool: Path) -> None:
    _record(delivery, 1)
    (own,) = [f for f in tracking_spool._spool.own() if f.path.parent == spool]
    line = _hit(delivery).dumps().encode()
    seen: list[bytes] = []

    os.write(own.fd, line[:20])  # a write still in progress
    first = tracking_spool.spool_ship(sink=seen.extend)
    os.write(own.fd, line[20:] + b"\n")
    second = tracking_spool.spool_ship(sink=seen.extend)

    assert (first, second) == (1, 1)
    assert seen[1] == line


def test_a_big_file_is_closed_shipped_to_its_end_and_deleted(
    delivery: Delivery, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracking_spool, "ROTATE_BYTES", 1000)
    _record(delivery, 10)  # ~2.5 KB in one file

    tracking_spool.spool_ship()  # the file is taken out of use and shipped
    tracking_spool.spool_ship()  # shipped to its end: deleted
    _record(delivery, 1)  # a new file

    assert tracking.tracking_buffer_length() == 10
    assert len(list(spool.glob("*.spool"))) == 1


# --- Redis down, database down ----------------------------------------------------------------------------------


def test_with_redis_down_a_shipped_batch_is_stored_directly_and_nothing_is_lost(
    delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(delivery, 25)
    _redis_down(monkeypatch)

    assert tracking_spool.spool_ship() == 25
    assert TrackingEvent.objects.count() == 25


def test_with_redis_and_the_database_down_the_lines_stay_in_the_spool_until_one_is_back(
    delivery: Delivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(delivery, 5)
    _redis_down(monkeypatch)

    def database_down(*, hits: list[tracking.Hit]) -> int:
        raise OperationalError("the database is down")

    monkeypatch.setattr(tracking, "tracking_hits_ingest", database_down)
    with pytest.raises(OperationalError):
        tracking_spool.spool_ship()
    kept = tracking_spool.spool_backlog().unshipped_bytes
    monkeypatch.setattr(tracking, "tracking_hits_ingest", tracking_store.tracking_hits_ingest)

    assert kept > 0
    assert tracking_spool.spool_ship() == 5
    assert TrackingEvent.objects.count() == 5


# --- processes that died ------------------------------------------------------------------------------------------


def test_the_spool_of_a_live_process_is_not_shipped_by_another(live_writer: subprocess.Popen[str]) -> None:
    assert tracking_spool.spool_ship(orphans=True) == 0
    assert tracking_spool.spool_backlog().orphans == 0


def test_the_spool_of_a_killed_process_is_shipped_once_by_the_next(
    live_writer: subprocess.Popen[str], spool: Path
) -> None:
    live_writer.send_signal(signal.SIGKILL)
    live_writer.wait(10)

    shipped = [tracking_spool.spool_ship(orphans=True), tracking_spool.spool_ship(orphans=True)]
    tracking.tracking_buffer_flush()

    assert shipped == [40, 0]
    assert TrackingEvent.objects.count() == 40
    assert list(spool.iterdir()) == []


def test_a_process_that_exits_normally_ships_its_spool_and_leaves_no_file(delivery: Delivery, spool: Path) -> None:
    proc = _writer(spool, delivery, 15, "exit")
    proc.wait(30)

    assert tracking.tracking_buffer_length() == 15
    assert list(spool.iterdir()) == []


def test_two_shippers_on_one_orphan_ship_it_once(
    live_writer: subprocess.Popen[str], spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_writer.kill()
    live_writer.wait(10)
    monkeypatch.setattr(tracking_spool, "READ_BYTES", 1024)  # several batches, so the two overlap
    shipped: list[bytes] = []

    def slow_sink(lines: list[bytes]) -> None:
        time.sleep(0.05)
        shipped.extend(lines)

    start = threading.Barrier(2)

    def shipper() -> None:
        start.wait()
        tracking_spool._ship_orphans(spool, slow_sink)

    threads = [threading.Thread(target=shipper) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(shipped) == len(set(shipped)) == 40


def test_the_status_shows_the_spool_backlog(live_writer: subprocess.Popen[str]) -> None:
    from scheduler import selectors

    line = next(line for line in selectors.status(ping=False) if line.name == "Tracking spool")

    assert line.ok
    assert line.value.startswith("1 file, ")
