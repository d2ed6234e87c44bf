"""The dashboard's period page: the sends behind the "Last N days" totals, each with its figures, so every total
of the dashboard links somewhere (issue 17: "each figure links to its report").

The totals at the top are the dashboard's own (the DailyStat days: events counted on the day they happened); the
sends listed are the ones started in the window with their stored reports (reports.SendReport, the figures of
their report pages). One page of sends, a handful of queries; nothing scans deliveries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.paginator import Page, Paginator
from django.utils import timezone

from campaigns import overview_selectors as campaign_overview
from dashboard.selectors import SendOwner, Totals, last_days, period_start, send_owners
from delivery import overview_selectors as delivery_overview
from reports import selectors as report_selectors
from reports.selectors import PERIOD_METRICS, Figures

METRIC_LABELS = {
    "sent": "Sent",
    "opened": "Opened (human)",
    "clicked": "Clicked (human)",
    "bounced": "Bounced",
    "complained": "Complaints",
    "conversions": "Conversions",
    "revenue": "Revenue",
}
PER_PAGE = 50
MAX_DAYS = 366


@dataclass(frozen=True)
class PeriodRow:
    send: Any
    owner: SendOwner
    report: Any  # reports.SendReport, or None while not computed

    @property
    def revenue(self) -> Decimal | None:
        return None if self.report is None else Decimal(self.report.revenue)


@dataclass
class Period:
    days: int
    since: dt.datetime
    metric: str
    totals: Totals  # the dashboard's day figures (the same numbers its card shows)
    sends_totals: Figures  # the listed sends' stored reports, added up
    page: Page[Any]
    rows: list[PeriodRow]


def period_overview(
    *, user: Any, days: int, metric: str = "", page: str | int | None = 1, now: dt.datetime | None = None
) -> Period:
    now = now or timezone.now()
    days = max(1, min(days, MAX_DAYS))
    metric = metric if metric in PERIOD_METRICS else ""
    since = period_start(days=days, now=now)
    sends = delivery_overview.sends_started_since(since=since).exclude(
        pk__in=campaign_overview.scenario_sends_hidden_query(user=user)
    )
    ranked = report_selectors.sends_ranked(sends=sends, metric=metric)
    current = Paginator(ranked, PER_PAGE).get_page(page)
    listed = list(current.object_list)
    owners = send_owners(send_ids=[s.pk for s in listed], user=user)
    rows = [PeriodRow(s, owners[s.pk], getattr(s, "report", None)) for s in listed]
    return Period(
        days=days,
        since=since,
        metric=metric,
        totals=last_days(now=now, days=days),
        sends_totals=report_selectors.sends_totals(sends=sends),
        page=current,
        rows=rows,
    )
