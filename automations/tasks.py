"""Celery tasks of automations: thin triggers over `automations.services`, safe to run twice."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from automations import services


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240, autoretry_for=(ConnectionError,), max_retries=5)
def automation_fire_task(automation_id: int, due_at: str | None = None) -> str:
    """What each automation's PeriodicTask calls. Without `due_at` the firing is the latest cron time <= now in
    the automation's zone. Running it twice for one due time records one run (unique (automation, due_at))."""
    due = dt.datetime.fromisoformat(due_at) if due_at else None
    return services.automation_fire(automation_id=automation_id, due_at=due).summary


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240, ignore_result=True)
def automations_sweep_task(now: str | None = None) -> dict[str, int | bool]:
    """Record the firings missed while beat was down and catch up the latest (the tick's hook enqueues it after a
    silence). Running it twice records each missed firing once (unique (automation, due_at))."""
    report = services.automations_sweep_missed(now=dt.datetime.fromisoformat(now) if now else None)
    return {"swept": report.swept, "missed": report.missed, "caught_up": report.caught_up}


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540, ignore_result=True)
def journey_segment_check_task(journey_id: int) -> int:
    """Enroll the contacts that entered a segment-triggered journey's segment since its last check. Running it
    twice enrolls each entry once (the remembered members and the unique trigger key)."""
    from automations.journeys import journey_segment_check

    return journey_segment_check(journey_id=journey_id)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240, ignore_result=True)
def journeys_drain_task(slot: int) -> int:
    """Advance a backlog of due journey enrollments off the tick's path (the tick kicks it when its own budget
    runs out). Running two at once is safe: each batch is claimed with SKIP LOCKED, each step visit runs once."""
    from automations.journeys import journeys_drain

    return journeys_drain(slot=slot)
