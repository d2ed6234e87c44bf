from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from campaigns import selectors as campaign_selectors
from scheduler import services
from scheduler.models import PlanRun


class Command(BaseCommand):
    help = "Run the daily plan (seed 000's 06:00 script) for a day: one Emailer per scenario due. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD (default: today in TIME_ZONE)")
        parser.add_argument("--dry-run", action="store_true", help="List what would be planned; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["date"]:
            try:
                day = dt.date.fromisoformat(options["date"])
            except ValueError as exc:
                raise CommandError(f"--date must be YYYY-MM-DD, not {options['date']!r}.") from exc
        else:
            day = timezone.localdate()
        if options["dry_run"]:
            scenarios = campaign_selectors.scenarios_to_plan(day=day)
            for scenario in scenarios:
                at = timezone.localtime(campaign_selectors.scenario_scheduled_at(scenario=scenario))
                self.stdout.write(f"  {at:%Y-%m-%d %H:%M %Z}  #{scenario.pk} {scenario} ({scenario.campaign})")
            self.stdout.write(f"Plan for {day}: {len(scenarios)} emailer(s) would be planned (dry run).")
            return
        run = services.plan_day(day=day, trigger=PlanRun.Trigger.MANUAL)
        self.stdout.write(self.style.SUCCESS(f"Plan for {run.day}: {run.planned} emailer(s) planned."))
