"""The web process's tracking spool: opens and clicks appended to a local file, shipped in batches (docs/tracking.md).

The hot path (`spool_append`) writes one line to an O_APPEND file of this process and returns: no Redis round trip,
no thread wake-up per hit. Once `os.write` has returned the kernel holds the bytes, so a SIGKILL of the worker
loses nothing (a power cut can lose what the page cache had not written yet, as Redis loses what it had not
fsynced).

A shipper thread per process (`TRACKING_SPOOL_SHIPPER`) wakes every `TRACKING_SPOOL_SHIP_MS`, reads the complete
lines written since its last offset and RPUSHes them to the Redis buffer in one call (the flush turns the buffer
into rows); with Redis down it stores them itself through `tracking_hits_ingest`, and when that fails too the
lines stay in the file and are tried again. The offset is kept in a sidecar file (`<name>.off`): a crash between
the push and the offset's write re-ships a batch, which the hits' unique `event_key` makes harmless.

Ownership is an exclusive `flock` held on each file by the process writing it, for its life: the kernel drops it
when the process dies, however it dies. A file whose lock can be taken belongs to no live process (an orphan) and
is shipped and deleted by whichever shipper takes the lock first (the others skip it); no pid guessing.
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from django.db import close_old_connections, connection

from delivery.services.tracking_store import keys

logger = logging.getLogger("delivery.tracking")

SUFFIX = ".spool"
OFFSET_SUFFIX = ".off"
READ_BYTES = 64 << 10  # per file and push (~200 hits; under malloc's mmap threshold): a backlog takes several pushes
ROTATE_BYTES = 8 << 20  # a file this big is closed for writing, shipped to its end and deleted
SCAN_SECONDS = 10.0  # how often the shipper looks for orphans
ERROR_LOG_SECONDS = 30.0  # one "cannot ship" error per this long while Redis and the database are both down

Sink = Callable[[list[bytes]], None]


# --- the file a process appends to ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _File:
    path: Path
    fd: int
    directory: object  # the TRACKING_SPOOL_DIR it was opened under
    shipped: int = 0  # bytes of the file already shipped (its sidecar's value)
    retired: bool = False  # no writer will take it again: shipped to its end, then deleted
    offset_fd: int = -1

    @property
    def offset_path(self) -> Path:
        return self.path.with_name(self.path.name + OFFSET_SUFFIX)


def spool_dir() -> Path:
    return Path(settings.TRACKING_SPOOL_DIR)


class _Spool:
    """This process's spool files. A writer pops a file off `free`, appends its line and pushes the file back:
    list.pop() and list.append() are atomic under the GIL, so the hot path takes no lock and no thread waits for
    another (a Lock around the write made threads queue behind one waiting for the GIL). There are as many files
    as writers ever wrote at once (gunicorn's threads). A file leaves circulation only when the shipper removes it
    from `free` (so no writer holds it) or a writer drops it: only then may it be closed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # opening and deleting files (rare), never around a write
        self.ship_lock = threading.Lock()  # one shipping pass at a time in this process
        self.free: list[_File] = []
        self.files: list[_File] = []  # every file of this process not deleted yet
        self.sequence = itertools.count()
        self.pid = os.getpid()
        self.shipper: threading.Thread | None = None
        self.stop = threading.Event()
        self.last_scan = 0.0

    def _open(self, directory: object) -> _File:
        folder = Path(str(directory))
        folder.mkdir(parents=True, exist_ok=True)
        with self.lock:
            name = f"{socket.gethostname()}-{os.getpid()}-{keys.prefix[:8]}-{next(self.sequence)}{SUFFIX}"
            path = folder / name
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else holds it
            f = _File(path=path, fd=fd, directory=directory)
            self.files.append(f)
        return f

    def append(self, line: bytes) -> None:
        directory = settings.TRACKING_SPOOL_DIR
        try:
            f = self.free.pop()
        except IndexError:
            f = self._open(directory)
        if f.directory is not directory and f.directory != directory:
            f.retired = True  # the setting changed (tests): that file is shipped to its end and deleted
            f = self._open(directory)
        try:
            written = os.write(f.fd, line)
            if written != len(line):
                # A short write (disk full): end the torn line so the next one starts clean; the torn one is
                # unreadable and the flush logs it. The caller records this hit another way.
                os.write(f.fd, b"\n")
                raise OSError(f"tracking spool: short write ({written} of {len(line)} bytes)")
        finally:
            self.free.append(f)

    def retire_big(self, *, all_files: bool = False) -> None:
        for f in list(self.free):
            # Its shipped offset stands for its size (a pass behind at most): no syscall per file and pass.
            if not f.retired and (all_files or f.shipped >= ROTATE_BYTES):
                try:
                    self.free.remove(f)  # fails when a writer holds it right now: next pass
                except ValueError:
                    continue
                f.retired = True

    def own(self) -> list[_File]:
        return list(self.files)

    def forget(self, f: _File) -> None:
        with self.lock:
            self.files.remove(f)


_spool = _Spool()


def _after_fork_in_child() -> None:
    # A forked child must not write to (or ship) its parent's files, nor reuse its event keys.
    global _spool
    for f in _spool.own():
        os.close(f.fd)
        if f.offset_fd >= 0:
            os.close(f.offset_fd)
    _spool = _Spool()
    keys.reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


def spool_append(line: str) -> None:
    """The hot path: one line (no newline in it) appended to this process's spool. Raises OSError when the file
    cannot take it (the caller stores the hit another way)."""
    _spool.append(line.encode() + b"\n")
    if _spool.shipper is None and settings.TRACKING_SPOOL_SHIPPER:
        shipper_start()


# --- shipping -----------------------------------------------------------------------------------------------------


def _read_offset(f: _File) -> int:
    try:
        return int(f.offset_path.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _write_offset(f: _File) -> None:
    # Fixed width, one pwrite: never torn in practice; a torn or lost sidecar only makes the next owner re-ship
    # (deduplicated by the event keys).
    if f.offset_fd < 0:
        f.offset_fd = os.open(f.offset_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    os.pwrite(f.offset_fd, b"%020d" % f.shipped, 0)


def _ship_files(files: list[_File], sink: Sink) -> int:
    """Ship the complete lines past each file's offset; returns the lines shipped. Every file's new lines go in one
    push per round (a process has a file per concurrent writer: one Redis call a pass, not one per file). A last
    line without its newline is a write in progress (or torn): it waits. No fstat: a pread past the end is empty."""
    shipped = 0
    while True:
        moved: list[tuple[_File, int]] = []
        lines: list[bytes] = []
        more = False
        for f in files:
            data = os.pread(f.fd, READ_BYTES, f.shipped)
            end = data.rfind(b"\n")
            if end < 0:
                continue
            lines.extend(line for line in data[:end].split(b"\n") if line)
            moved.append((f, end + 1))
            more = more or len(data) == READ_BYTES
        if not moved:
            return shipped
        if lines:
            sink(lines)  # raises when nothing could take them: the offsets stay, the lines are tried again
        for f, length in moved:
            f.shipped += length
            _write_offset(f)
        shipped += len(lines)
        if not more:
            return shipped


def _ship_file(f: _File, sink: Sink) -> int:
    return _ship_files([f], sink)


def _delete(f: _File) -> None:
    # The data file first: a sidecar without its file is garbage the scan removes, never the reverse.
    f.path.unlink(missing_ok=True)
    f.offset_path.unlink(missing_ok=True)
    os.close(f.fd)
    if f.offset_fd >= 0:
        os.close(f.offset_fd)


def _claim_orphan(path: Path) -> _File | None:
    """The file, locked by this process, when no live process holds it; None when someone does (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:  # shipped and deleted by another shipper between our open and our lock
        os.close(fd)
        return None
    f = _File(path=path, fd=fd, directory=None, retired=True)
    f.shipped = _read_offset(f)
    return f


def _ship_orphans(directory: Path, sink: Sink) -> int:
    if not directory.is_dir():
        return 0
    mine = {f.path.name for f in _spool.own()}
    shipped = 0
    for path in sorted(directory.iterdir()):
        if path.name.endswith(SUFFIX + OFFSET_SUFFIX):
            if not path.with_name(path.name[: -len(OFFSET_SUFFIX)]).exists():
                path.unlink(missing_ok=True)  # its file was shipped and deleted
            continue
        if not path.name.endswith(SUFFIX) or path.name in mine:
            continue
        orphan = _claim_orphan(path)
        if orphan is None:
            continue
        try:
            shipped += _ship_file(orphan, sink)
            tail = os.fstat(orphan.fd).st_size - orphan.shipped
            if tail > 0:
                # Its writer died in the middle of a line: the line can never be completed.
                lost = os.pread(orphan.fd, tail, orphan.shipped)
                logger.error("tracking spool %s ends with a torn line, not shipped: %r", path.name, lost[:2000])
            _delete(orphan)
            logger.info("tracking spool: shipped %s lines of %s (left by a process that is gone)", shipped, path.name)
        except BaseException:
            os.close(orphan.fd)  # the lock goes with it: the next scan tries again
            if orphan.offset_fd >= 0:
                os.close(orphan.offset_fd)
            raise
    return shipped


def spool_ship(*, orphans: bool = False, sink: Sink | None = None) -> int:
    """One shipping pass over this process's files (and, with `orphans`, the files no live process holds);
    returns the lines shipped. Raises when a batch could be stored nowhere (its lines stay in the spool)."""
    sink = sink or _sink
    with _spool.ship_lock:
        _spool.retire_big()
        files = _spool.own()
        shipped = _ship_files(files, sink)
        for f in files:
            if f.retired and os.fstat(f.fd).st_size == f.shipped:
                _spool.forget(f)
                _delete(f)
        if orphans:
            shipped += _ship_orphans(spool_dir(), sink)
        return shipped


def spool_drain(*, sink: Sink | None = None) -> int:
    """Take every file of this process out of use, ship them to their end and delete them (at exit: nothing left
    for the next process). A hit recorded afterwards opens a new file."""
    _spool.retire_big(all_files=True)
    return spool_ship(sink=sink)


def _sink(lines: list[bytes]) -> None:
    """Lines to the Redis buffer in one RPUSH; with Redis down (or no Redis configured), stored at once."""
    from delivery.services import tracking

    client = tracking.buffer_client(timeout=2.0)
    if client is not None:
        try:
            client.rpush(tracking.BUFFER_KEY, *lines)
            return
        except redis.RedisError as exc:
            logger.warning("tracking buffer unavailable (%s): storing %s spooled hits directly", exc, len(lines))
    hits = [h for h in (tracking.Hit.loads(line) for line in lines) if h is not None]
    if len(hits) != len(lines):
        logger.error("tracking spool: %s unreadable lines skipped", len(lines) - len(hits))
    if not connection.in_atomic_block:  # (a caller's transaction is the caller's business)
        close_old_connections()  # a database restarted since the last batch: a fresh connection
    batch = int(settings.TRACKING_FLUSH_BATCH)
    for start in range(0, len(hits), batch):
        tracking.tracking_hits_ingest(hits=hits[start : start + batch])


# --- the shipper thread -------------------------------------------------------------------------------------------


def _shipper_loop(spool: _Spool, stop: threading.Event) -> None:
    interval = float(settings.TRACKING_SPOOL_SHIP_MS) / 1000
    failing_since = 0.0
    last_error_log = 0.0
    while not stop.wait(interval if not failing_since else max(interval, 1.0)):
        try:
            now = time.monotonic()
            scan = now - spool.last_scan >= SCAN_SECONDS
            if scan:
                spool.last_scan = now
            spool_ship(orphans=scan)
            if failing_since:
                logger.warning("tracking spool: shipping again after %.0f s", now - failing_since)
            failing_since = 0.0
        except Exception:
            now = time.monotonic()
            failing_since = failing_since or now
            if now - last_error_log >= ERROR_LOG_SECONDS:
                last_error_log = now
                logger.exception("tracking spool: cannot ship (the lines stay in the spool; retrying)")


def shipper_start() -> None:
    """Start this process's shipper thread once (a daemon: the atexit hook ships what is left)."""
    spool = _spool
    with spool.lock:
        if spool.shipper is not None:
            return
        spool.last_scan = time.monotonic() - SCAN_SECONDS  # the first pass looks for orphans at once
        spool.shipper = threading.Thread(
            target=_shipper_loop, args=(spool, spool.stop), name="tracking-spool-shipper", daemon=True
        )
    spool.shipper.start()


def shipper_stop(*, timeout: float = 5.0) -> None:
    """Stop this process's shipper thread (after its current pass); `spool_ship` still ships by hand."""
    spool = _spool
    thread = spool.shipper
    if thread is None:
        return
    spool.stop.set()
    thread.join(timeout=timeout)
    with spool.lock:
        spool.shipper, spool.stop = None, threading.Event()


@atexit.register
def _ship_at_exit() -> None:
    """A graceful stop (gunicorn's worker exit, runserver's) ships what is left; a kill leaves it to the next process."""
    spool = _spool
    if spool.pid != os.getpid() or not spool.files:
        return
    shipper_stop()
    try:
        spool_drain()
    except Exception:
        logger.exception("tracking spool: not shipped at exit; the next process ships it")


# --- backlog (status) ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolBacklog:
    files: int
    unshipped_bytes: int
    orphans: int  # files no live process holds (the next scan ships them)


def spool_backlog(directory: Path | None = None) -> SpoolBacklog:
    """What the spool directory holds that is not shipped yet (this host's processes, or one shared volume)."""
    directory = directory or spool_dir()
    files = unshipped = orphans = 0
    if not directory.is_dir():
        return SpoolBacklog(0, 0, 0)
    for path in directory.iterdir():
        if not path.name.endswith(SUFFIX):
            continue
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        f = _File(path=path, fd=-1, directory=None)
        files += 1
        unshipped += max(0, size - _read_offset(f))
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            orphans += 1
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    return SpoolBacklog(files=files, unshipped_bytes=unshipped, orphans=orphans)
