from __future__ import annotations

from celery import shared_task

from dashboard import services


@shared_task(time_limit=600, soft_time_limit=540)
def daily_stats_refresh_task() -> int:
    """Recompute the dashboard's daily figures; running it twice writes the same rows."""
    return services.daily_stats_refresh()
