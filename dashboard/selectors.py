"""Reads of the dashboard at `/`: what sends next, what is sending now, what just finished and the last days'
totals. Every figure comes from the other apps' selectors (campaigns, automations, delivery; reports when it is
installed); nothing here scans deliveries per request except the few sends listed (docs/dashboard.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module
from typing import Any

from django.apps import apps
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from automations import overview_selectors as automation_overview
from campaigns import overview_selectors as campaign_overview
from dashboard.models import DailyStat
from dashboard.services import stats_days
from delivery import overview_selectors as delivery_overview
from delivery.models import Send
from delivery.selectors import SendProgress, duration_text, send_progress

NEXT_LIMIT = 8
NEXT_SHOWN = 10  # of the three kinds together, soonest first
SENDING_LIMIT = 20
FINISHED_LIMIT = 10


def url_or(name: str, *args: Any, fallback: str = "") -> str:
    """The URL of `name`, or `fallback` when it is not installed (the reports app's pages, before it exists)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return fallback


# --- who owns a send ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendOwner:
    kind: str  # "Scenario", "Automation", "Journey", or "Send"
    label: str
    detail: str
    url: str
    report_url: str


def send_owners(*, send_ids: list[int], user: Any) -> dict[int, SendOwner]:
    """The scenario, automation run or journey step behind each send, with its page and its report."""
    owners: dict[int, SendOwner] = {}
    for send_id, scenario in campaign_overview.scenarios_by_send(send_ids=send_ids).items():
        url = reverse("campaigns:scenario-detail", args=[scenario.pk])
        owners[send_id] = SendOwner(
            "Scenario",
            scenario.subject,
            scenario.campaign.name,
            url,
            url_or("reports:scenario", scenario.pk, fallback=url),
        )
    rest = [i for i in send_ids if i not in owners]
    for send_id, run in automation_overview.automation_runs_by_send(send_ids=rest).items():
        url = reverse("automations:run-detail", args=[run.automation_id, run.pk])
        owners[send_id] = SendOwner(
            "Automation",
            run.automation.name,
            f"run due {timezone.localtime(run.due_at):%Y-%m-%d %H:%M}",
            url,
            url_or("reports:automation_run", run.pk, fallback=url),
        )
    rest = [i for i in rest if i not in owners]
    for send_id, step in automation_overview.journey_steps_by_send(send_ids=rest).items():
        url = reverse("journeys:detail", args=[step.journey.pk])
        owners[send_id] = SendOwner(
            "Journey",
            step.journey.name,
            f"step {step.step_key}",
            url,
            url_or("reports:journey_step", step.journey.pk, step.step_key, fallback=url),
        )
    for send_id in send_ids:
        if send_id not in owners:
            report = url_or("reports:send", send_id)
            owners[send_id] = SendOwner("Send", f"Send #{send_id}", "", report, report)
    return owners


# --- what sends next ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NextItem:
    at: dt.datetime
    kind: str  # "Scenario", "Automation", "Journey"
    label: str
    detail: str
    url: str


@dataclass
class NextSends:
    items: list[NextItem]
    automations_firing: int
    journeys_due: int  # enrollments due in the next 24 h, all journeys


def next_sends(*, user: Any, now: dt.datetime) -> NextSends:
    items = [
        NextItem(
            at,
            "Scenario",
            s.subject,
            s.campaign.name,
            reverse("campaigns:scenario-detail", args=[s.pk]),
        )
        for s, at in campaign_overview.scenarios_upcoming(user=user, now=now, limit=NEXT_LIMIT)
    ]
    firings, firing_total = automation_overview.automations_next_firings(now=now, limit=NEXT_LIMIT)
    items += [
        NextItem(
            f.at,
            "Automation",
            f.automation.name,
            f.automation.segment.name if f.automation.segment else "",
            reverse("automations:detail", args=[f.automation.pk]),
        )
        for f in firings
    ]
    due = automation_overview.journeys_due(now=now)
    items += [
        NextItem(
            max(j.first_at, now),
            "Journey",
            j.journey.name,
            f"{j.due} contact{'' if j.due == 1 else 's'} due in 24 h",
            reverse("journeys:detail", args=[j.journey.pk]),
        )
        for j in due[:NEXT_LIMIT]
    ]
    items.sort(key=lambda item: item.at)
    return NextSends(items[:NEXT_SHOWN], firing_total, sum(j.due for j in due))


# --- sending now -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendingRow:
    send: Send
    owner: SendOwner
    progress: SendProgress

    @property
    def percent(self) -> int:
        return min(100, round(self.progress.percent))

    @property
    def eta(self) -> str:
        eta = self.progress.eta_seconds
        return duration_text(eta) if eta and self.progress.status == Send.Status.SENDING else ""


def _visible(sends: list[Send], *, user: Any, limit: int) -> list[Send]:
    """Leave out the sends of campaigns the user may not see (CAMPAIGN_OWNERSHIP_ONLY), then keep `limit`."""
    hidden = campaign_overview.scenario_sends_hidden_from(send_ids=[s.pk for s in sends], user=user)
    return [s for s in sends if s.pk not in hidden][:limit]


def sending_now(*, user: Any) -> list[SendingRow]:
    sends = _visible(delivery_overview.sends_in_progress(limit=SENDING_LIMIT * 3), user=user, limit=SENDING_LIMIT)
    owners = send_owners(send_ids=[s.pk for s in sends], user=user)
    return [SendingRow(s, owners[s.pk], send_progress(send_id=s.pk)) for s in sends]


# --- recently finished ------------------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


@dataclass(frozen=True)
class FinishedRow:
    send: Send
    owner: SendOwner
    opened: int
    clicked: int
    bounced: int
    conversions: int | None  # None: conversions are not measured (no reports app) or not computed yet
    revenue: Decimal | None = None  # of those conversions (after a click, as they are); None: as conversions

    @property
    def reached(self) -> int:
        """Sent and not bounced: the base of the rates (as the reports use)."""
        return max(0, self.send.sent - self.bounced)

    @property
    def open_rate(self) -> float | None:
        return _rate(self.opened, self.reached)

    @property
    def click_rate(self) -> float | None:
        return _rate(self.clicked, self.reached)

    @property
    def conversion_rate(self) -> float | None:
        return None if self.conversions is None else _rate(self.conversions, self.reached)


def conversions_measured() -> bool:
    return apps.is_installed("reports")


def _conversions(send_ids: list[int]) -> dict[int, tuple[int, Decimal]]:
    """Conversions after a click and their revenue per send from the reports app's stored
    per-send reports (reports.models.SendReport, computed by its worker), for the sends whose report is computed;
    empty without the reports app. One query for all the listed sends: reports.selectors.report_figures sums a
    set of sends into one figure, two queries per call."""
    if not conversions_measured() or not send_ids:
        return {}
    reports = import_module("reports.models")
    rows = reports.SendReport.objects.filter(send_id__in=send_ids, computed_at__isnull=False).values_list(
        "send_id", "conversions", "revenue"
    )
    return {int(send_id): (int(conversions or 0), Decimal(revenue or 0)) for send_id, conversions, revenue in rows}


def recently_finished(*, user: Any) -> list[FinishedRow]:
    sends = _visible(delivery_overview.sends_finished(limit=FINISHED_LIMIT * 3), user=user, limit=FINISHED_LIMIT)
    ids = [s.pk for s in sends]
    owners = send_owners(send_ids=ids, user=user)
    engagement = delivery_overview.send_engagement(send_ids=ids)
    conversions = _conversions(ids)
    rows = []
    for send in sends:
        e = engagement.get(send.pk)
        converted = conversions.get(send.pk)
        rows.append(
            FinishedRow(
                send,
                owners[send.pk],
                e.opened if e else 0,
                e.clicked if e else 0,
                e.bounced if e else 0,
                converted[0] if converted else None,
                converted[1] if converted else None,
            )
        )
    return rows


# --- the last days ---------------------------------------------------------------------------------------


@dataclass
class Totals:
    days: list[DailyStat] = field(default_factory=list)
    computed_at: dt.datetime | None = None

    def _sum(self, name: str) -> int:
        return sum(int(getattr(d, name)) for d in self.days)

    @property
    def sent(self) -> int:
        return self._sum("sent")

    @property
    def opened(self) -> int:
        return self._sum("opened")

    @property
    def clicked(self) -> int:
        return self._sum("clicked")

    @property
    def bounced(self) -> int:
        return self._sum("bounced")

    @property
    def complained(self) -> int:
        return self._sum("complained")

    @property
    def open_rate(self) -> float | None:
        return _rate(self.opened, max(0, self.sent - self.bounced))

    @property
    def click_rate(self) -> float | None:
        return _rate(self.clicked, max(0, self.sent - self.bounced))


def last_days(*, now: dt.datetime, days: int | None = None) -> Totals:
    """The pre-aggregated days of the window (DASHBOARD_DAYS unless told, today included), missing days as
    zeros (days older than the refresh keeps are zeros too: services.KEEP_DAYS)."""
    count = days or stats_days()
    today = timezone.localdate(now)
    start = today - dt.timedelta(days=count - 1)
    stored = {d.day: d for d in DailyStat.objects.filter(day__gte=start, day__lte=today)}
    days_list = [
        stored.get(day) or DailyStat(day=day, computed_at=now)
        for day in (start + dt.timedelta(days=i) for i in range(count))
    ]
    computed = [d.computed_at for d in stored.values()]
    return Totals(days_list, min(computed) if computed else None)


def period_start(*, days: int, now: dt.datetime) -> dt.datetime:
    """Local midnight of the window's first day (today included), as the dashboard's days count."""
    first = timezone.localdate(now) - dt.timedelta(days=days - 1)
    return timezone.make_aware(dt.datetime.combine(first, dt.time(0)))


def period_revenue(*, now: dt.datetime) -> Decimal | None:
    """The revenue of the conversions credited after a click to the sends started in the last DASHBOARD_DAYS
    days (their stored reports; None without the reports app). All sends, as the day figures beside it."""
    if not conversions_measured():
        return None
    since = period_start(days=stats_days(), now=now)
    totals = import_module("reports.selectors").sends_totals(sends=delivery_overview.sends_started_since(since=since))
    return Decimal(totals.amounts["revenue"])


@dataclass
class Overview:
    next: NextSends
    sending: list[SendingRow]
    finished: list[FinishedRow]
    totals: Totals
    conversions_measured: bool
    revenue: Decimal | None = None


def dashboard_overview(*, user: Any, now: dt.datetime | None = None) -> Overview:
    now = now or timezone.now()
    return Overview(
        next=next_sends(user=user, now=now),
        sending=sending_now(user=user),
        finished=recently_finished(user=user),
        totals=last_days(now=now),
        conversions_measured=conversions_measured(),
        revenue=period_revenue(now=now),
    )
