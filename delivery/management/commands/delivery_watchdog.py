from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from delivery import services


class Command(BaseCommand):
    help = (
        "Re-enqueue the queued pages of sends whose progress stalled (lost task messages after a worker crash), "
        "close sends with nothing left to send, and finish interrupted cancels. The scheduler tick runs this "
        "every few seconds; run it by hand after restarting crashed workers to resume at once."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            help="seconds without progress before a sending send counts as stalled (default: the setting, 45)",
        )

    def handle(self, *args: Any, stale_after: float | None = None, **options: Any) -> None:
        pages = services.watchdog(stale_after=stale_after)
        self.stdout.write(self.style.SUCCESS(f"Re-enqueued {pages} page(s)."))
