"""Reads of the scheduler: the status page and `manage.py status`. (What a day's plan would write is each
planning app's own selector: `campaigns.selectors.scenarios_to_plan`.)"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from campaigns import selectors as campaign_selectors

logger = logging.getLogger(__name__)


# --- the status page and `manage.py status` ----------------------------------------------------------------------

PLAN_GRACE = dt.timedelta(minutes=5)
TICK_LATE_FACTOR = 10  # ticks missed in a row before the tick counts as late
WORKER_PING_SECONDS = 1.0


@dataclass(frozen=True)
class StatusLine:
    name: str
    value: str
    ok: bool
    hint: str = ""


def _queue_depth() -> int | None:
    """Messages waiting in the default queue, from the broker itself (Redis or the embedded folder)."""
    from celery import current_app

    try:
        with current_app.connection_for_read() as conn:
            queue = current_app.conf.task_default_queue
            return int(conn.default_channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:  # the broker is down or refuses: the page says so instead of failing
        logger.warning("status: cannot read the queue depth", exc_info=True)
        return None


def _workers() -> list[str] | None:
    from celery import current_app

    try:
        replies = current_app.control.ping(timeout=WORKER_PING_SECONDS)
    except Exception:
        logger.warning("status: cannot ping the workers", exc_info=True)
        return None
    return sorted(name for reply in replies for name in reply)


def status(*, now: dt.datetime | None = None, ping: bool = True) -> list[StatusLine]:
    """What an operator needs to know is running: the beat entries, the daily plan, the tick, the queue, the
    workers and stalled sends; each line says whether it is late (`ok=False` is the red line)."""
    from django_celery_beat.models import PeriodicTask

    from delivery import selectors as delivery_selectors
    from scheduler.models import Heartbeat, PlanRun
    from scheduler.services import PLAN_TASK_NAME, TICK_HEARTBEAT, TICK_TASK_NAME

    now = now or timezone.now()
    lines: list[StatusLine] = []

    entries = set(
        PeriodicTask.objects.filter(name__in=[PLAN_TASK_NAME, TICK_TASK_NAME], enabled=True).values_list(
            "name", flat=True
        )
    )
    lines.append(
        StatusLine(
            "Beat schedule",
            "daily plan and tick written" if len(entries) == 2 else f"{len(entries)} of 2 entries",
            len(entries) == 2,
            "" if len(entries) == 2 else "Beat writes them when it starts: is `celery -A config beat` running?",
        )
    )

    today = timezone.localdate(now)
    last_plan = PlanRun.objects.order_by("-day").first()
    plan_due = campaign_selectors.plan_at(day=today)
    plan_late = now > plan_due + PLAN_GRACE and not PlanRun.objects.filter(day=today).exists()
    lines.append(
        StatusLine(
            "Daily plan",
            f"last ran for {last_plan.day} ({last_plan.planned} planned) at {timezone.localtime(last_plan.finished_at or last_plan.started_at):%Y-%m-%d %H:%M}"
            if last_plan
            else "never ran",
            not plan_late,
            f"today's plan was due at {timezone.localtime(plan_due):%H:%M} and has not run" if plan_late else "",
        )
    )

    tick_every = max(1.0, float(settings.SCHEDULER_TICK_SECONDS))
    beat = Heartbeat.objects.filter(name=TICK_HEARTBEAT).first()
    tick_age = (now - beat.seen_at).total_seconds() if beat else None
    tick_ok = tick_age is not None and tick_age <= tick_every * TICK_LATE_FACTOR
    lines.append(
        StatusLine(
            "Dispatch tick",
            f"last ran {tick_age:.0f} s ago (every {tick_every:.0f} s)" if tick_age is not None else "never ran",
            tick_ok,
            "" if tick_ok else "the tick needs beat and a worker both running",
        )
    )

    depth = _queue_depth() if ping else None
    lines.append(
        StatusLine(
            "Queue depth",
            "unknown (broker unreachable)"
            if depth is None and ping
            else ("not checked" if depth is None else str(depth)),
            depth is not None or not ping,
            "the broker did not answer" if depth is None and ping else "",
        )
    )

    workers = _workers() if ping else None
    lines.append(
        StatusLine(
            "Workers seen in the last minute",
            ", ".join(workers) if workers else ("not checked" if not ping else "none"),
            bool(workers) or not ping,
            "" if workers or not ping else "no worker answered a ping: start `celery -A config worker`",
        )
    )

    stale = now - dt.timedelta(seconds=float(settings.DELIVERY_WATCHDOG_SECONDS) * 2)
    stalled = list(delivery_selectors.sends_stalled(older_than=stale).values_list("pk", flat=True)[:20])
    lines.append(
        StatusLine(
            "Stalled sends",
            ", ".join(f"#{pk}" for pk in stalled) if stalled else "none",
            not stalled,
            "sending, but no page committed for twice the watchdog's limit" if stalled else "",
        )
    )
    lines.append(_tracking_line())
    return lines


def _tracking_line() -> StatusLine:
    from delivery import selectors as delivery_selectors

    backlog = delivery_selectors.tracking_backlog()
    files = f"{backlog.spool_files} file{'' if backlog.spool_files == 1 else 's'}"
    value = f"{files}, {backlog.spool_unshipped_bytes / 1024:.0f} KB not shipped"
    if backlog.spool_orphans:
        value += f" ({backlog.spool_orphans} left by stopped processes)"
    if backlog.buffered is not None:
        value += f"; {backlog.buffered} hits in the Redis buffer"
    stuck = bool(backlog.spool_orphans and backlog.spool_unshipped_bytes)
    hint = "a running web process ships them within seconds; `manage.py tracking_spool --ship` ships them now"
    return StatusLine("Tracking spool", value, not stuck, hint if stuck else "")
