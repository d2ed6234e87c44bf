"""Catch-up: firings missed while beat was down. The scheduler tick's hook notices a silence and hands a sweep to
a worker; the sweep records the missed firings as skipped and catches up the latest one if it is recent enough."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone as dj_timezone

from accounts.models import Notification
from automations import cron
from automations.models import Automation, AutomationRun
from automations.services.beat import _start_time
from automations.services.notifications import _notify
from automations.services.runs import SKIP_MISSED, R, _catchup

logger = logging.getLogger("automations.services")

# day would otherwise write 1,440 rows at once). Older ones stay unrecorded; the notification says how many.
CATCH_UP_MAX_FIRINGS = 100
# Beat runs the tick every SCHEDULER_TICK_SECONDS (1 s by default). A longer silence means beat (or every worker)
# was down and firings may have been missed; 10 s leaves room for a loaded machine's late ticks, and a sweep
# triggered by a merely late tick only costs the sweep.
CATCH_UP_SILENCE = dt.timedelta(seconds=10)
_SEEN_KEY = "herald:automations:tick-seen"
_SWEEP_LOCK = "herald:automations:sweep-lock"


@dataclass(frozen=True)
class CatchUpReport:
    swept: bool = False
    missed: int = 0
    caught_up: int = 0


def automations_catch_up(*, now: dt.datetime | None = None) -> bool:
    """The scheduler tick's hook, kept O(1): when the previous tick is longer ago than CATCH_UP_SILENCE (or
    unknown: the first tick after a start), hand a sweep of missed firings to a worker. Returns whether it did.

    While ticks keep coming, beat is up and fires every automation itself, so nothing can have been missed. The
    sweep (`automations_sweep_missed`) walks the cron of every active automation (~0.5 ms each), which is why it
    runs as a task and not inside the one-second tick."""
    from automations.tasks import automations_sweep_task

    now = now or dj_timezone.now()
    previous = cache.get(_SEEN_KEY)
    cache.set(_SEEN_KEY, now.timestamp(), timeout=None)
    silence = float(settings.SCHEDULER_TICK_SECONDS) * 3
    if previous is not None and abs(now.timestamp() - float(previous)) <= max(
        CATCH_UP_SILENCE.total_seconds(), silence
    ):
        return False
    if not Automation.objects.active().exists():
        return False
    automations_sweep_task.delay_on_commit(now.isoformat())
    return True


def automations_sweep_missed(*, now: dt.datetime | None = None) -> CatchUpReport:
    """Every firing of an active automation due since its last scheduled run (or its last change) that has no run:
    the latest is run if it is less than AUTOMATION_CATCHUP_MINUTES late (through `automation_fire_task`, beat's
    path, so unique (automation, due_at) settles a race with beat's own late firing), every other one is recorded
    as skipped ("missed"), at most CATCH_UP_MAX_FIRINGS per automation. A second sweep finds nothing to do."""
    from automations.tasks import automation_fire_task

    now = now or dj_timezone.now()
    if not cache.add(_SWEEP_LOCK, 1, timeout=300):
        return CatchUpReport()  # another sweep is at it; ours would find the same firings
    try:
        last_scheduled = (
            AutomationRun.objects.filter(automation=OuterRef("pk"), trigger=AutomationRun.Trigger.SCHEDULE)
            .order_by("-due_at")
            .values("due_at")[:1]
        )
        rows = Automation.objects.active().annotate(last_due=Subquery(last_scheduled)).select_related("created_by")
        window = _catchup()
        missed: list[AutomationRun] = []
        fire: list[tuple[int, dt.datetime]] = []
        notices: list[tuple[Automation, list[dt.datetime]]] = []
        for automation in rows:
            last_due: dt.datetime | None = getattr(automation, "last_due", None)
            floor = max(d for d in (last_due, automation.updated_at, _start_time(automation)) if d)
            try:
                dues = cron.due_times(
                    automation.cron, tz=automation.timezone, after=floor, until=now, limit=CATCH_UP_MAX_FIRINGS
                )
            except ValueError:  # an expression or zone that no longer parses; its firings fail on their own
                continue
            if not dues:
                continue
            if now - dues[-1] <= window:
                fire.append((automation.pk, dues.pop()))
            if automation.end_date is not None:
                zone = cron.zone(automation.timezone)
                dues = [d for d in dues if d.astimezone(zone).date() <= automation.end_date]
            missed.extend(
                AutomationRun(
                    automation_id=automation.pk,
                    due_at=due,
                    trigger=AutomationRun.Trigger.SCHEDULE,
                    status=R.SKIPPED,
                    reason=SKIP_MISSED,
                    started_at=now,
                    finished_at=now,
                )
                for due in dues
            )
            if dues:
                notices.append((automation, dues))
        with transaction.atomic():
            # ON CONFLICT DO NOTHING: a firing that got its run meanwhile (beat back up) keeps that run.
            AutomationRun.objects.bulk_create(missed, ignore_conflicts=True, batch_size=1000)
            for automation_id, due in fire:
                automation_fire_task.delay_on_commit(automation_id, due.isoformat())
            for owner, dues in notices:
                _notify(
                    owner,
                    title=f"Runs missed: automation “{owner.name}”",
                    body=(
                        f"{len(dues)} firing{'s' if len(dues) != 1 else ''} due {dues[0]:%Y-%m-%d %H:%M %Z}"
                        + (f" to {dues[-1]:%Y-%m-%d %H:%M %Z}" if len(dues) > 1 else "")
                        + " passed while the scheduler was down: recorded as skipped (missed). Only the latest "
                        f"firing is caught up, and only if less than {int(window.total_seconds() // 60)} min late."
                    ),
                    level=Notification.Level.WARNING,
                )
    finally:
        cache.delete(_SWEEP_LOCK)
    if missed or fire:
        logger.info("automations catch-up: %s missed, %s caught up", len(missed), len(fire))
    return CatchUpReport(swept=True, missed=len(missed), caught_up=len(fire))
