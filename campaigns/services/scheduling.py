"""campaigns' part of the scheduler's plan and tick (ARCHITECTURE §3), named in settings.SCHEDULER_PLAN_HOOKS and
SCHEDULER_TICK_HOOKS. The scheduler calls them; campaigns never imports the scheduler (it sits above)."""

from __future__ import annotations

import datetime as dt

from campaigns.services.campaigns import campaigns_complete_ended
from campaigns.services.emailers import (
    emailers_claim_due,
    emailers_notify_upcoming,
    emailers_plan_day,
    emailers_redispatch_stale,
)


def campaigns_plan_day(*, day: dt.date, now: dt.datetime) -> int:
    """Seed 000's 06:00 script for campaigns: one Emailer per scheduled scenario due before the next plan, and
    campaigns whose timeline ended marked completed. Idempotent. Returns the Emailers planned."""
    planned = emailers_plan_day(day=day)
    campaigns_complete_ended(day=day)
    return planned


def campaigns_tick(*, now: dt.datetime) -> dict[str, int]:
    """Every tick: dispatch the due runs, tell creators of runs about to start, and dispatch again a run a dead
    worker dropped. Returns the counts, by name, for the tick's result. (A lost engine event is not campaigns'
    business: the engine publishes it again, `delivery.services.notices_redeliver`.)"""
    return {
        "dispatched": len(emailers_claim_due(now=now)),
        "notified": emailers_notify_upcoming(now=now),
        "redispatched": len(emailers_redispatch_stale(now=now)),
    }
