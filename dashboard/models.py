from __future__ import annotations

from django.db import models


class DailyStat(models.Model):
    """One local day (settings.TIME_ZONE) of engagement over every send: emails sent that day, first human opens
    and clicks that happened that day, bounces and complaints of the emails sent that day.

    A pre-aggregate: counting them from a million Delivery rows took longer than the dashboard's whole budget
    (docs/benchmarks.md, dashboard), so a worker recomputes the window every DASHBOARD_STATS_SECONDS
    (dashboard.services.daily_stats_refresh, enqueued by the scheduler tick) and the page reads ~31 rows.
    """

    day = models.DateField(unique=True)
    sent = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day}: {self.sent} sent"
