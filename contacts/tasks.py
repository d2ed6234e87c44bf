"""Celery entry points of contacts: thin triggers over services."""

from __future__ import annotations

from celery import shared_task

from contacts import services

# A million rows take well under a minute; the limit only stops a runaway job from holding a worker forever.
IMPORT_TIME_LIMIT = 60 * 60


@shared_task(time_limit=IMPORT_TIME_LIMIT, soft_time_limit=IMPORT_TIME_LIMIT - 60, acks_late=False)
def import_job_run_task(job_id: int) -> str:
    """Run one import. Safe twice: a job that is not pending any more is returned untouched."""
    return services.import_job_run(job_id=job_id).status
