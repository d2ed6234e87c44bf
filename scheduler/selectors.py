"""Reads of the scheduler: what a day's plan would write."""

from __future__ import annotations

import datetime as dt

from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign, Scenario


def scenarios_to_plan(*, day: dt.date) -> list[Scenario]:
    """Scheduled scenarios of active campaigns, inside their campaign's timeline, due from the previous daily
    plan (a run missed while beat was down still goes, late) up to the next one (which writes everything after).

    Scenarios are few per day (they are messages, not recipients), so the final filter runs in Python.
    """
    next_plan = campaign_selectors.plan_at(day=day + dt.timedelta(days=1))
    window_start = campaign_selectors.plan_at(day=day - dt.timedelta(days=1))
    # A campaign zone may differ from TIME_ZONE by up to a day, so look one day either side and decide by instant.
    candidates = (
        Scenario.objects.select_related("campaign")
        .filter(
            status=Scenario.Status.SCHEDULED,
            campaign__status=Campaign.Status.ACTIVE,
            send_date__range=(day - dt.timedelta(days=1), day + dt.timedelta(days=1)),
            campaign__start_date__lte=day + dt.timedelta(days=1),
            campaign__end_date__gte=day - dt.timedelta(days=1),
        )
        .exclude(emailer__dispatched_at__isnull=False)
        .order_by("send_date", "send_time", "id")
    )
    return [
        scenario
        for scenario in candidates
        if scenario.campaign.start_date <= scenario.send_date <= scenario.campaign.end_date
        and window_start <= campaign_selectors.scenario_scheduled_at(scenario=scenario) < next_plan
    ]
