from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns import selectors
from campaigns.models import Campaign
from contacts import services as contact_services
from contacts.models import ImportJob


class Command(BaseCommand):
    help = "Import a CSV of contacts (at least an email column; name or first_name/last_name) into a campaign's batch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("csv", type=Path)
        parser.add_argument("--campaign", type=int, required=True, help="Campaign id; its batch receives the contacts")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["csv"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            campaign = selectors.campaign_get(campaign_id=options["campaign"])
        except Campaign.DoesNotExist as exc:
            raise CommandError(f"No campaign #{options['campaign']}.") from exc
        with path.open("rb") as fh:
            try:
                job = contact_services.import_job_create(
                    file=File(fh, name=path.name),
                    original_name=path.name,
                    kind=ImportJob.Kind.CONTACTS,
                    batch=campaign.batch,
                    start=False,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Import #{job.pk} of {path.name} into “{campaign.name}” (batch #{campaign.batch_id})")
        self._run_with_progress(job.pk)
        job.refresh_from_db()
        self.stdout.write(
            f"{job.get_status_display()}: {job.rows_total} rows, {job.created} created, {job.updated} updated, "
            f"{job.unchanged} unchanged, {job.skipped} skipped, {job.errors} errors."
        )
        if job.message:
            self.stdout.write(job.message)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(f"Import #{job.pk} failed.")

    def _run_with_progress(self, job_id: int) -> None:
        """Run the import here (not on a worker), printing its progress as the import reports it."""

        def report(job: ImportJob) -> None:
            self.stdout.write(f"  {job.percent:3d}%  {job.rows_processed:,} rows")

        contact_services.import_job_run(job_id=job_id, progress=report)
