from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from scheduler import services


class Command(BaseCommand):
    help = (
        "Create or update the beat schedule from settings: the daily plan at SCHEDULER_DAILY_AT (crontab) and the "
        "dispatch tick every SCHEDULER_TICK_SECONDS. Safe to run on every start."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.schedule_sync()
        self.stdout.write(
            self.style.SUCCESS(
                f"Beat schedule: daily plan at {result['daily_at']}, dispatch tick every {result['tick_seconds']} s."
            )
        )
