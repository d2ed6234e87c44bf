"""Celery tasks of reports: thin triggers over `reports.services`, safe to run twice (a recompute is idempotent)."""

from __future__ import annotations

from celery import shared_task

from reports import services


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540, ignore_result=True)
def send_report_refresh_task(send_id: int) -> bool:
    """Recompute one send's report; False when the send no longer exists."""
    return services.send_report_refresh(send_id=send_id) is not None
