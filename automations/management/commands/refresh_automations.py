from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from automations import services


class Command(BaseCommand):
    help = (
        "Rebuild every automation's django-celery-beat PeriodicTask from the database and remove orphaned ones "
        "(the seed's refresh_automation.sh). Prints what was created, updated and removed; a second run changes "
        "nothing. Beat picks the changes up without a restart."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print what would change; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        report = services.automations_refresh(dry_run=dry_run)
        verb = "would be " if dry_run else ""
        for label, names in (("created", report.created), ("updated", report.updated), ("removed", report.removed)):
            for name in names:
                self.stdout.write(f"  {label}: {name}")
        summary = (
            f"{len(report.created)} {verb}created, {len(report.updated)} {verb}updated, "
            f"{len(report.removed)} {verb}removed"
        )
        if not report.changed:
            summary += " (already in step)"
        self.stdout.write(self.style.SUCCESS(summary))
