from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from scheduler import selectors


class Command(BaseCommand):
    help = (
        "Is Herald's machinery running: beat's schedule, the daily plan, the dispatch tick, the queue depth, the "
        "workers seen in the last minute and stalled sends. Exit status 1 when any line is late (for monitoring)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-ping", action="store_true", help="Skip the broker and worker checks (database only)")

    def handle(self, *args: Any, **options: Any) -> None:
        lines = selectors.status(ping=not options["no_ping"])
        width = max(len(line.name) for line in lines)
        for line in lines:
            mark = self.style.SUCCESS("ok  ") if line.ok else self.style.ERROR("LATE")
            self.stdout.write(f"{mark} {line.name:<{width}}  {line.value}")
            if line.hint:
                self.stdout.write(f"     {'':<{width}}  {line.hint}")
        if not all(line.ok for line in lines):
            raise SystemExit(1)
