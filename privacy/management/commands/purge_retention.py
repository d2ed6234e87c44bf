"""`manage.py purge_retention [--days N] [--dry-run]`: what the daily beat job does, now."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from privacy import services


class Command(BaseCommand):
    help = (
        "Delete tracking rows, outbox copies and provider events older than HERALD_RETENTION_DAYS (or --days), and "
        "import uploads older than HERALD_IMPORT_KEEP_UPLOADS_DAYS; --dry-run counts them instead."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--days", type=int, help="override HERALD_RETENTION_DAYS")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options.get("days")
        if days is None and settings.HERALD_RETENTION_DAYS is None:
            self.stdout.write("HERALD_RETENTION_DAYS is not set: only import uploads are purged (or pass --days N).")
        try:
            counts = services.retention_purge(days=days, dry_run=options["dry_run"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(", ".join(f"{name}: {verb} {n:,}" for name, n in counts.items()) or "nothing to do")
