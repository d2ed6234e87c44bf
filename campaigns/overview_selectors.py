"""Reads of scenarios for the dashboard at `/` and the calendar: what is scheduled next, a date range, the
scenario behind a Send. Scoped like every scenario list (campaigns.selectors.scenario_list and the user)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone as dj_timezone

from campaigns import selectors
from campaigns.models import Emailer, Scenario


def scenarios_upcoming(
    *, user: Any, now: dt.datetime | None = None, limit: int = 8
) -> list[tuple[Scenario, dt.datetime]]:
    """Scheduled scenarios due from now on, soonest first, with their due time (in each campaign's zone).

    Dates are local to each campaign, so the rows are read from yesterday on (no zone is more than a day ahead)
    in date order and cut once `limit` of them are due after now."""
    now = now or dj_timezone.now()
    rows = (
        selectors.scenario_list(user=user, status=Scenario.Status.SCHEDULED)
        .filter(send_date__gte=now.date() - dt.timedelta(days=1))
        .order_by("send_date", "send_time", "id")[: limit * 4]
    )
    upcoming = [(s, selectors.scenario_scheduled_at(scenario=s)) for s in rows]
    return sorted([(s, at) for s, at in upcoming if at >= now], key=lambda pair: pair[1])[:limit]


def scenarios_in_range(*, user: Any, start: dt.date, end: dt.date) -> QuerySet[Scenario]:
    """Every scenario (any status) with a send date in [start, end], in date and time order."""
    return (
        selectors.scenario_list(user=user)
        .filter(send_date__gte=start, send_date__lte=end)
        .order_by("send_date", "send_time", "id")
    )


def scenarios_by_send(*, send_ids: Iterable[int]) -> dict[int, Scenario]:
    """The scenario whose run owns each Send (Emailer.send), keyed by send id."""
    ids = list(send_ids)
    rows = Scenario.objects.select_related("campaign", "emailer").filter(emailer__send_id__in=ids) if ids else []
    return {s.emailer.send_id: s for s in rows if s.emailer.send_id is not None}


def scenario_sends_hidden_from(*, send_ids: Iterable[int], user: Any) -> set[int]:
    """The sends (of these) owned by scenarios of campaigns the user may not see (CAMPAIGN_OWNERSHIP_ONLY)."""
    ids = list(send_ids)
    if not ids:
        return set()
    visible = selectors.campaigns_visible_to(user)
    hidden = Emailer.objects.filter(send_id__in=ids).exclude(campaign__in=visible).values_list("send_id", flat=True)
    return {send_id for send_id in hidden if send_id is not None}


def scenario_sends_hidden_query(*, user: Any) -> QuerySet[Emailer, int]:
    """The same as a subquery for a list of any length (the dashboard's period page): every send of a campaign
    the user may not see."""
    visible = selectors.campaigns_visible_to(user)
    return Emailer.objects.filter(send__isnull=False).exclude(campaign__in=visible).values_list("send_id", flat=True)
