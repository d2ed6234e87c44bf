from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from delivery import selectors
from delivery.services.tracking_spool import spool_ship


class Command(BaseCommand):
    help = (
        "The opens and clicks this host's web processes spooled and did not ship yet (docs/tracking.md). With "
        "--ship, ship now the files of processes that are gone (a running web process does it within seconds)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ship", action="store_true", help="Ship the files no live process holds, now")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["ship"]:
            self.stdout.write(f"shipped {spool_ship(orphans=True)} hits")
        backlog = selectors.tracking_backlog()
        self.stdout.write(
            f"spool: {backlog.spool_files} files, {backlog.spool_unshipped_bytes} bytes not shipped, "
            f"{backlog.spool_orphans} left by stopped processes"
        )
        buffered = "unknown (no Redis, or it did not answer)" if backlog.buffered is None else backlog.buffered
        self.stdout.write(f"Redis buffer: {buffered} hits waiting for the flush")
