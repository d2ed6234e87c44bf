"""The embedded broker: kombu's filesystem transport, with writes that no reader can see half done.

kombu 5.7's filesystem transport opens a message file with ``'wb'`` (visible and empty) before it locks and writes
it, and its reader moves and reads files without taking that lock. A worker that polls at the wrong moment reads an
empty file, ``json.loads`` raises, and Celery stops the worker with "Unrecoverable error: JSONDecodeError" (issue 12:
2 of 3 `make run`s died within minutes, beat writes a message every second). The exchange table used for broadcasts
has the same window on creation.

Here every file is written whole under a name no reader looks at, then renamed into place: ``os.replace`` on one
filesystem is atomic, so a reader sees either no file or all of it. A reader claims a message by renaming it into its
own folder (atomic too, so two workers never take the same message) before reading it. A message that still does not
decode (written by another writer, or a disk fault) is moved aside to ``corrupt/`` and logged, never raised into the
worker's consumer loop.

Selected with ``CELERY_BROKER_URL = "herald-fs://"``; the alias is registered when ``config.celery`` is imported.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

ALIAS = "herald-fs"


def write_atomically(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file beside ``path``, flush it, then rename it onto ``path``."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


class Channel(filesystem.Channel):
    # kombu names the argument `message` in the base channel and `payload` in the filesystem one; keep the base.
    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        filename = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, filename)
        try:
            # Readers pick files by the ".<queue>.msg" suffix after the first dot; the temporary name starts with a
            # dot, so it never matches while it is being written.
            write_atomically(path, str_to_bytes(dumps(message)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        wanted = f"{queue}.msg"
        claimed_folder = Path(self.processed_folder)
        claimed_folder.mkdir(parents=True, exist_ok=True)
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.startswith(".") or filename.partition(".")[2] != wanted:
                continue
            claimed = claimed_folder / filename
            try:
                # Same filesystem, so a rename: exactly one reader wins it (the stock reader falls back to a copy
                # into /tmp, which two readers can both do).
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except OSError:
                continue  # another reader took it
            try:
                payload = claimed.read_bytes()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {str(claimed)!r} from queue.") from exc
            try:
                message = loads(bytes_to_str(payload))
            except ValueError:
                self._set_aside(claimed)
                continue
            if not self.store_processed:
                claimed.unlink(missing_ok=True)
            return message
        raise filesystem.Empty()

    def _set_aside(self, path: Path) -> None:
        corrupt = Path(self.data_folder_in).parent / "corrupt"
        corrupt.mkdir(parents=True, exist_ok=True)
        os.replace(path, corrupt / path.name)
        log.error("Broker message %s does not decode; moved to %s and skipped", path.name, corrupt)

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        file = self._exchange_file(exchange)
        if not file.exists():
            # Create the table whole, and only if no other process did meanwhile: a link fails if the name exists.
            self.control_folder.mkdir(parents=True, exist_ok=True)
            temporary = file.with_name(f".{file.name}.{uuid.uuid4().hex}.tmp")
            temporary.write_bytes(str_to_bytes(dumps([])))
            try:
                os.link(temporary, file)
            except FileExistsError:
                pass
            finally:
                temporary.unlink(missing_ok=True)
        super()._queue_bind(exchange, routing_key, pattern, queue)


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    TRANSPORT_ALIASES.setdefault(ALIAS, f"{__name__}:Transport")
