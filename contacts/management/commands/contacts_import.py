"""`manage.py contacts_import people.csv [--kind contacts|events] [--batch ID]`: the product import, in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts import services
from contacts.models import Batch, ImportJob


class Command(BaseCommand):
    help = (
        "Import a contacts or funnel-events CSV through the same path as the dashboard and the API, printing progress."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--kind", choices=ImportJob.Kind.values, default=ImportJob.Kind.CONTACTS)
        parser.add_argument("--batch", type=int, help="add the imported contacts to this batch id")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        batch = None
        if options["batch"] is not None:
            batch = Batch.objects.filter(pk=options["batch"]).first()
            if batch is None:
                raise CommandError(f"No batch with id {options['batch']}")
        with path.open("rb") as f:
            job = services.import_job_create(
                file=f, original_name=path.name, kind=options["kind"], batch=batch, start=False
            )
        self.stdout.write(f"Import #{job.pk}: {path.name} ({job.bytes_total:,} bytes)")

        def progress(current: ImportJob) -> None:
            self.stdout.write(
                f"  {current.percent:3d}%  {current.rows_processed:,} rows, "
                f"{current.bytes_processed:,} of {current.bytes_total:,} bytes"
            )

        job = services.import_job_run(job_id=job.pk, progress=progress)
        if job.status != ImportJob.Status.DONE:
            raise CommandError(f"Import #{job.pk} failed: {job.message}")
        self.stdout.write(self.style.SUCCESS(job.message))
        if job.error_report:
            self.stdout.write(f"Error report: {job.error_report.path}")
