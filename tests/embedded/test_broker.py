"""The embedded broker never hands a worker a half-written message (issue 12: the stock transport did)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection

from config import broker

broker.register()


# kombu keeps exchange bindings per process, across connections: each test uses its own queue name.
def _connection(root: Path) -> Connection:
    folder = root / "out"
    for name in ("out", "processed", "control"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return Connection(
        "herald-fs://localhost//",
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(root / "processed"),
            "control_folder": str(root / "control"),
            "store_processed": False,
        },
    )


def test_a_message_round_trips(tmp_path: Path) -> None:
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("q")
        queue.put({"n": 1})
        assert queue.get(timeout=1).payload == {"n": 1}


def test_a_file_still_being_written_is_not_read(tmp_path: Path) -> None:
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("q2")
        # What a writer leaves while it writes: the hidden temporary name, empty so far.
        (tmp_path / "out" / ".1_abc.q2.msg.deadbeef.tmp").write_bytes(b"")
        with pytest.raises(queue.Empty):
            queue.get(block=False)


def test_an_undecodable_message_is_set_aside_and_the_next_one_read(tmp_path: Path) -> None:
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("q3")
        (tmp_path / "out" / "0_broken.q3.msg").write_bytes(b"")  # what the stock writer can leave
        queue.put({"n": 2})
        assert queue.get(timeout=5).payload == {"n": 2}
        assert (tmp_path / "corrupt" / "0_broken.q3.msg").exists()


def test_a_reader_racing_a_writer_gets_every_message_whole(tmp_path: Path) -> None:
    total = 600
    padding = "x" * 20_000  # big enough that a write is not one syscall's worth of page cache
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with _connection(tmp_path) as conn:
                channel = conn.default_channel
                for n in range(total):
                    channel._put("q4", {"n": n, "pad": padding})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=produce)
    writer.start()
    seen: list[int] = []
    # The channel's own reader, polled as fast as it answers: no consumer machinery or poll interval in between.
    with _connection(tmp_path) as conn:
        channel = conn.default_channel
        deadline = time.monotonic() + 300
        while len(seen) < total and time.monotonic() < deadline:
            try:
                message = channel._get("q4")
            except Empty:
                time.sleep(0.001)
                continue
            assert message["pad"] == padding
            seen.append(message["n"])
    writer.join()
    assert not errors
    assert sorted(seen) == list(range(total))
    assert not (tmp_path / "corrupt").exists()
