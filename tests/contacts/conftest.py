from __future__ import annotations

import io
from collections.abc import Callable
from typing import cast

import pytest

from contacts import services
from contacts.models import Batch, Contact, ImportJob
from tests.factories import ContactFactory

RunImport = Callable[..., ImportJob]


@pytest.fixture
def run_import(db: None, settings: pytest.FixtureRequest, tmp_path: object) -> RunImport:
    """Import `data` (bytes or str) synchronously through the product path and return the finished job."""
    settings.MEDIA_ROOT = str(tmp_path)  # type: ignore[attr-defined]

    def run(
        data: bytes | str, *, name: str = "people.csv", kind: str = "contacts", batch: Batch | None = None
    ) -> ImportJob:
        raw = data.encode() if isinstance(data, str) else data
        job = services.import_job_create(file=io.BytesIO(raw), original_name=name, kind=kind, batch=batch, start=False)
        return services.import_job_run(job_id=job.pk)

    return run


def make_contact(**fields: object) -> Contact:
    """A saved Contact from the factory, typed as a Contact."""
    return cast(Contact, ContactFactory(**fields))
