from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from campaigns import services as campaign_services
from scheduler import services


class Command(BaseCommand):
    help = (
        "Claim every due Emailer and hand it to a worker (the campaigns part of what the beat tick does every second)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tick",
            action="store_true",
            help="Run the whole tick: also catch up a missed plan and run every SCHEDULER_TICK_HOOKS hook "
            "(notify about runs about to start, recover dropped runs, the engine watchdog).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["tick"]:
            result = services.tick()
            self.stdout.write(
                f"Caught up plan: {'yes' if result.caught_up else 'no'}; dispatched {result.dispatched}; "
                f"notified {result.notified}."
            )
            return
        claimed = campaign_services.emailers_claim_due()
        self.stdout.write(
            self.style.SUCCESS(f"Dispatched {len(claimed)} emailer(s)") + (f": {claimed}" if claimed else ".")
        )
