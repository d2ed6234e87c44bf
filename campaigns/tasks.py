from __future__ import annotations

from celery import shared_task

from campaigns import services


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240, autoretry_for=(ConnectionError,), max_retries=5)
def emailer_run_task(emailer_id: int) -> int | None:
    """Start the send of one claimed Emailer. Running it twice starts one send (the Emailer row is locked)."""
    return services.emailer_run(emailer_id=emailer_id)
