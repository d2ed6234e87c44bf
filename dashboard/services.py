"""Writes of the dashboard: its pre-aggregated daily figures, and the tick hook that keeps them fresh."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from dashboard.models import DailyStat
from delivery import overview_selectors as delivery_overview

# Opens and clicks keep arriving for weeks after a send: the window reads the deliveries of sends created this
# many days before its first day too (an open of an older send is not counted; docs/dashboard.md).
SEND_LOOKBACK_DAYS = 30
KEEP_DAYS = 400
REFRESH_KEY = "dashboard:daily-stats-refresh"


def stats_days() -> int:
    return int(getattr(settings, "DASHBOARD_DAYS", 30))


def daily_stats_refresh(*, now: dt.datetime | None = None) -> int:
    """Recompute the last DASHBOARD_DAYS days and today in one transaction (the page never sees half a window).
    Returns the number of days written. Idempotent."""
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    today = now.astimezone(zone).date()
    start = today - dt.timedelta(days=stats_days())
    sends_since = dt.datetime.combine(start, dt.time(0), tzinfo=zone) - dt.timedelta(days=SEND_LOOKBACK_DAYS)
    days = delivery_overview.engagement_by_day(start=start, end=today, zone=zone, sends_since=sends_since)
    rows = [
        DailyStat(
            day=d.day,
            sent=d.sent,
            opened=d.opened,
            clicked=d.clicked,
            bounced=d.bounced,
            complained=d.complained,
            computed_at=now,
        )
        for d in days
    ]
    with transaction.atomic():
        DailyStat.objects.filter(day__gte=start).delete()
        DailyStat.objects.filter(day__lt=today - dt.timedelta(days=KEEP_DAYS)).delete()
        DailyStat.objects.bulk_create(rows)
    return len(rows)


def dashboard_tick(*, now: dt.datetime) -> int:
    """SCHEDULER_TICK_HOOKS entry: enqueue the refresh at most every DASHBOARD_STATS_SECONDS. The tick must stay
    fast, so the work runs in a worker; the cache key (atomic add) is the claim, no query per tick."""
    seconds = int(getattr(settings, "DASHBOARD_STATS_SECONDS", 300))
    if not cache.add(REFRESH_KEY, now.isoformat(), timeout=seconds):
        return 0
    from dashboard.tasks import daily_stats_refresh_task

    transaction.on_commit(lambda: daily_stats_refresh_task.delay())
    return 1
