from __future__ import annotations

from typing import Any

from celery import shared_task

from privacy import services


@shared_task(time_limit=3600, soft_time_limit=3500)
def retention_purge_task() -> dict[str, Any]:
    """The daily retention purge (a beat entry written by scheduler.services.schedule_sync). Safe to run twice:
    the second run finds nothing older than the cutoff."""
    return services.retention_purge()
