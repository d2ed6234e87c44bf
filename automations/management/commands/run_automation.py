from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from automations import services
from automations.models import AutomationRun


def _aware(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--at {value!r} is not an ISO date and time (2026-11-23T09:30+01:00).") from None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = (
        "Run one automation now through the same path beat uses (the seed's run-automation.ts) and print the "
        "run's counts. --at gives the due time: running it again with the same --at does nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("automation_id", type=int)
        parser.add_argument("--at", help="The due time (ISO 8601; without an offset, the project's zone).")

    def handle(self, *args: Any, **options: Any) -> None:
        at = _aware(options["at"]) if options["at"] else None
        result = services.automation_run_now(automation_id=options["automation_id"], at=at)
        if result.run is None:
            raise CommandError(f"No automation #{options['automation_id']}.")
        style = (
            self.style.SUCCESS
            if result.created and result.run.status != AutomationRun.Status.FAILED
            else self.style.WARNING
        )
        self.stdout.write(style(result.summary))
