"""`manage.py gdpr export <email> [--format json|csv] [--output FILE]` and `manage.py gdpr erase <email> [--yes]`."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from privacy import services


class Command(BaseCommand):
    help = "Export everything Herald holds about an email address (JSON, or CSV files in a zip), or erase it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Write the data-subject export.")
        export.add_argument("email")
        export.add_argument("--format", choices=["json", "csv"], default="json", help="csv: a zip of CSV files")
        export.add_argument("--output", help="file to write (default: standard output; required for csv)")
        erase = sub.add_parser("erase", help="Erase the address (cannot be undone).")
        erase.add_argument("email")
        erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options["email"], options["format"], options.get("output"))
        else:
            self._erase(options["email"], options["yes"])

    def _export(self, email: str, fmt: str, output: str | None) -> None:
        try:
            if fmt == "csv":
                if not output:
                    raise CommandError("--format csv writes a zip: give --output FILE.zip")
                payload: bytes = services.gdpr_export_zip(email=email)
            else:
                payload = json.dumps(services.gdpr_export(email=email), indent=2).encode()
        except services.PersonNotFound as exc:
            raise CommandError(str(exc)) from None
        if output:
            with open(output, "wb") as f:
                f.write(payload)
            self.stderr.write(f"Export of {email} written to {output} ({len(payload):,} bytes).")
        else:
            sys.stdout.buffer.write(payload + b"\n")

    def _erase(self, email: str, yes: bool) -> None:
        if not yes:
            try:
                answer = input(f"Erase {email} from Herald? This cannot be undone. Type 'erase' to confirm: ")
            except EOFError:  # no terminal (a script, cron): nobody can confirm
                raise CommandError("Nothing erased: no one to confirm (no terminal). Pass --yes to erase.") from None
            if answer.strip() != "erase":
                raise CommandError("Nothing erased.")
        try:
            report = services.gdpr_erase(email=email, actor=None, source="admin")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        counts = ", ".join(f"{name} {n}" for name, n in sorted(report.counts.items()) if n)
        self.stdout.write(
            f"Erased {email} (contact {report.contact_id or 'none'}); hash {report.email_hash[:12]}… on the "
            f"suppression list. Rows: {counts or 'none'}."
        )
