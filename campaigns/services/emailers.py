"""The due-run lifecycle of a scenario, in one place: plan its Emailer, claim it when due, hand it to a worker,
start its Send.

    emailer_plan / emailer_sync     the Emailer row (`active=true, sent=false`, `scheduled_at`), or taken back
    emailers_claim_due(now)         every due row, for the tick
    emailer_dispatch(emailer_id)    THE claim + enqueue-on-commit; used by the tick, send-now and redispatch
    emailer_run(emailer_id)         the worker's step: create the Send and snapshot the audience

The claim is a conditional update of `dispatched_at` (ARCHITECTURE §3: the database is the truth, no long ETA),
so two dispatchers racing each other hand a row to a worker exactly once. From the moment the Send exists the
engine owns progress; the Scenario follows the engine's events (`campaigns.services.events`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone as dj_timezone

from accounts.models import Notification
from accounts.services import notification_create
from campaigns import engine as send_engines
from campaigns import selectors
from campaigns.display import subject_label
from campaigns.models import Campaign, Emailer, Scenario

logger = logging.getLogger(__name__)

ScenarioStatus = Scenario.Status

# Longer than the slowest healthy `emailer_run` (one snapshot statement, seconds even for a million contacts).
EMAILER_STALE_AFTER = dt.timedelta(minutes=2)


# --- plan -------------------------------------------------------------------------------------------------


@transaction.atomic
def emailer_plan(*, scenario: Scenario, scheduled_at: dt.datetime | None = None) -> Emailer:
    """Write the scenario's Emailer (`active=true, sent=false` at its time). Idempotent; one per scenario.

    An Emailer the tick already claimed is left alone: its run has begun.
    """
    campaign = scenario.campaign
    at = scheduled_at or selectors.scenario_scheduled_at(scenario=scenario)
    emailer, created = Emailer.objects.get_or_create(
        scenario=scenario,
        defaults={"campaign": campaign, "batch_id": campaign.batch_id, "scheduled_at": at, "active": True},
    )
    if created:
        return emailer
    changes: dict[str, Any] = {"active": True, "scheduled_at": at, "batch_id": campaign.batch_id}
    if emailer.scheduled_at != at:
        changes["notified_at"] = None  # a new time deserves a new "about to start"
    Emailer.objects.filter(pk=emailer.pk, dispatched_at__isnull=True, sent=False).update(**changes)
    emailer.refresh_from_db()
    return emailer


def emailer_sync(*, scenario: Scenario) -> None:
    """Give a scheduled scenario of an active campaign its Emailer when it is due before the next plan; take it
    back from anything else. Only an Emailer not yet claimed by the tick is touched."""
    if (
        scenario.status == ScenarioStatus.SCHEDULED
        and scenario.campaign.status == Campaign.Status.ACTIVE
        and selectors.scenario_needs_plan_now(scenario=scenario)
    ):
        emailer_plan(scenario=scenario)
    else:
        Emailer.objects.filter(scenario_id=scenario.pk, dispatched_at__isnull=True, active=True).update(active=False)


def emailers_plan_day(*, day: dt.date) -> int:
    """The Emailers of the daily plan for `day` (`selectors.scenarios_to_plan`). Returns how many were planned."""
    planned = 0
    with transaction.atomic():
        for scenario in selectors.scenarios_to_plan(day=day):
            emailer_plan(scenario=scenario)
            planned += 1
    return planned


# --- claim and dispatch -----------------------------------------------------------------------------------


def emailer_dispatch(*, emailer_id: int, now: dt.datetime, claimed_at: dt.datetime | None = None) -> bool:
    """Claim one Emailer and enqueue its run when the transaction commits. True if this call claimed it.

    `claimed_at=None` claims a row nobody claimed yet (the tick, send-now); a datetime re-claims a row claimed at
    exactly that instant whose run never started (redispatch). Either way a conditional update on
    `dispatched_at`, so of two racing callers one wins; `emailer_run` is idempotent under its row lock besides.
    """
    from campaigns.tasks import emailer_run_task  # tasks import services: a module-level import would cycle

    rows = Emailer.objects.filter(pk=emailer_id, active=True, sent=False, send__isnull=True)
    rows = rows.filter(dispatched_at__isnull=True) if claimed_at is None else rows.filter(dispatched_at=claimed_at)
    if not rows.update(dispatched_at=now):
        return False
    emailer_run_task.delay_on_commit(emailer_id)
    return True


def emailers_claim_due(*, now: dt.datetime | None = None) -> list[int]:
    """Claim every due Emailer once and enqueue its run (the tick's step). Returns the claimed ids.

    Rows locked by a concurrent dispatcher are skipped, and each claim is conditional (`emailer_dispatch`), so two
    ticks racing each other (or a tick and the `dispatch_due` command) hand a row to a worker exactly once, on
    PostgreSQL and SQLite alike.
    """
    now = now or dj_timezone.now()
    claimed: list[int] = []
    with transaction.atomic():
        due = list(
            selectors.emailers_due(now=now)
            .select_for_update(skip_locked=True)
            .order_by("scheduled_at")
            .values_list("pk", flat=True)
        )
        claimed = [emailer_id for emailer_id in due if emailer_dispatch(emailer_id=emailer_id, now=now)]
    if claimed:
        logger.info("dispatched emailers %s", claimed)
    return claimed


def emailers_redispatch_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Hand a claimed Emailer whose run never started (its worker died before `emailer_run` committed) to a
    worker again. Re-claimed on its old `dispatched_at`, so one tick re-enqueues it once."""
    now = now or dj_timezone.now()
    stale = Emailer.objects.filter(
        active=True, sent=False, send__isnull=True, dispatched_at__lte=now - EMAILER_STALE_AFTER
    ).values_list("pk", "dispatched_at")
    with transaction.atomic():
        again = [
            emailer_id
            for emailer_id, claimed_at in stale
            if emailer_dispatch(emailer_id=emailer_id, now=now, claimed_at=claimed_at)
        ]
    if again:
        logger.warning("emailers %s were claimed but never started; dispatched again", again)
    return again


# --- run --------------------------------------------------------------------------------------------------


def emailer_run(*, emailer_id: int) -> int | None:
    """Hand a claimed Emailer to the engine: create its Send and snapshot the audience. Safe to call twice.

    Returns the number of recipients snapshotted, or None when there was nothing to do. The Scenario moves to
    `sending` when the engine says the send started (`events.on_send_event`), not here.
    """
    with transaction.atomic():
        emailer = Emailer.objects.select_for_update().select_related("campaign").filter(pk=emailer_id).first()
        if emailer is None or emailer.send_id is not None or not emailer.active or emailer.sent:
            return None
        scenario = Scenario.objects.select_for_update().get(pk=emailer.scenario_id)
        campaign = emailer.campaign
        if scenario.status not in (ScenarioStatus.SCHEDULED, ScenarioStatus.SENDING):
            Emailer.objects.filter(pk=emailer.pk).update(active=False)
            return None
        if campaign.status != Campaign.Status.ACTIVE:
            # Unclaim: when the campaign is made active again, its plan hands this row back to the tick.
            Emailer.objects.filter(pk=emailer.pk).update(active=False, dispatched_at=None)
            return None
        engine = send_engines.send_engine()
        send = engine.send_create(
            label=f"{campaign.name}: {scenario.subject}"[:200],
            subject=scenario.subject,
            body_text=scenario.content,
            template_id=scenario.template_id,
            track_opens=campaign.track_opens,
            track_clicks=campaign.track_clicks,
        )
        # The Emailer knows its Send before the engine can publish anything about it (on our commit).
        Emailer.objects.filter(pk=emailer.pk).update(send=send)
        total = engine.send_start(send_id=send.pk, audience=selectors.campaign_audience(campaign=campaign))
    logger.info("emailer %s: send %s started with %s recipients", emailer_id, send.pk, total)
    return total


# --- telling the creator ----------------------------------------------------------------------------------


def _scenario_url(scenario: Scenario) -> str:
    try:
        return reverse("campaigns:scenario-detail", args=[scenario.pk])
    except NoReverseMatch:  # the dashboard page is optional for the engine's callers (commands, workers)
        return ""


def scenario_notify(*, scenario: Scenario, title: str, body: str = "", level: str = Notification.Level.INFO) -> None:
    """A bell notification to the scenario's creator (or its campaign's), linking to the scenario's page."""
    user = scenario.created_by or scenario.campaign.created_by
    notification_create(user=user, title=title, body=body, url=_scenario_url(scenario), level=level)


def emailers_notify_upcoming(*, now: dt.datetime | None = None) -> int:
    """Tell creators their scenario starts within NOTIFY_LEAD_MINUTES. Each Emailer is claimed once."""
    now = now or dj_timezone.now()
    horizon = now + dt.timedelta(minutes=settings.NOTIFY_LEAD_MINUTES)
    with transaction.atomic():
        ids = list(
            Emailer.objects.select_for_update(skip_locked=True)
            .filter(active=True, dispatched_at__isnull=True, notified_at__isnull=True, scheduled_at__lte=horizon)
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Emailer.objects.filter(pk__in=ids, notified_at__isnull=True).update(notified_at=now)
        for emailer in Emailer.objects.filter(pk__in=ids).select_related("scenario", "scenario__campaign"):
            minutes = max(0, round((emailer.scheduled_at - now).total_seconds() / 60))
            scenario_notify(
                scenario=emailer.scenario,
                title=f"About to start: “{subject_label(emailer.scenario.subject)}”",
                body=f"Campaign {emailer.scenario.campaign.name} sends in about {minutes} min "
                f"({dj_timezone.localtime(emailer.scheduled_at):%Y-%m-%d %H:%M}).",
            )
    return len(ids)
