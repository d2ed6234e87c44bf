"""Reads of automations: lists, one automation, its runs, and the schedule shown for a cron expression."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone as dj_timezone

from automations import cron
from automations.models import Automation, AutomationRun
from delivery import selectors as delivery_selectors

ACTIVE, PAUSED = "active", "paused"


def automation_list(
    *, search: str = "", status: str = "", segment_id: int | None = None, template_id: int | None = None
) -> QuerySet[Automation]:
    qs = Automation.objects.select_related("segment", "template", "created_by").order_by("name", "id")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if status == ACTIVE:
        qs = qs.filter(is_active=True)
    elif status == PAUSED:
        qs = qs.filter(is_active=False)
    if segment_id is not None:
        qs = qs.filter(segment_id=segment_id)
    if template_id is not None:
        qs = qs.filter(template_id=template_id)
    return qs


def automation_get(*, automation_id: int) -> Automation:
    return automation_list().get(pk=automation_id)


def automation_runs(*, automation_id: int) -> QuerySet[AutomationRun]:
    return AutomationRun.objects.filter(automation_id=automation_id).select_related("send").order_by("-due_at", "-id")


def automation_run_get(*, automation_id: int, run_id: int) -> AutomationRun:
    """One run of one automation (scoped: a run id under another automation's URL does not exist)."""
    return AutomationRun.objects.select_related("automation", "send").get(pk=run_id, automation_id=automation_id)


@dataclass(frozen=True)
class RunProgress:
    """What a run's live progress shows: the engine's counters of its Send (`delivery.selectors.send_progress`,
    O(1) at any audience size), or the run's own counts when it handed nothing to the engine (skipped, failed
    before its snapshot)."""

    started: bool
    total: int
    sent: int
    failed: int
    queued: int
    percent: int
    failed_percent: int
    rate_per_s: float
    eta_seconds: float | None
    send_status: str
    reason: str
    live: bool
    # The first page is out and the rest of the segment is still being written: `total` is the count so far.
    snapshotting: bool = False


def automation_run_progress(*, run: AutomationRun) -> RunProgress:
    live = run.status == AutomationRun.Status.RUNNING
    if run.send_id is None:
        return RunProgress(False, run.audience_size, run.sent, run.failed, 0, 0, 0, 0.0, None, "", run.reason, live)
    progress = delivery_selectors.send_progress(send_id=run.send_id)
    total = progress.total
    return RunProgress(
        started=True,
        total=total,
        sent=progress.sent,
        failed=progress.failed,
        queued=progress.queued,
        percent=0 if progress.snapshotting else min(100, round(100 * progress.sent / total)) if total else 100,
        failed_percent=min(100, round(100 * progress.failed / total)) if total and not progress.snapshotting else 0,
        rate_per_s=progress.rate_per_s,
        eta_seconds=progress.eta_seconds if live else None,
        send_status=progress.status,
        reason=run.reason or progress.reason,
        live=live,
        snapshotting=progress.snapshotting,
    )


@dataclass
class SchedulePreview:
    """The schedule of an expression as the form and the detail page show it."""

    expression: str
    text: str = ""
    next_runs: list[dt.datetime] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def schedule_preview(*, expression: str, tz: str, now: dt.datetime | None = None) -> SchedulePreview:
    preview = SchedulePreview(expression=" ".join((expression or "").split()))
    try:
        preview.expression = cron.validate(preview.expression)
        cron.zone(tz)
    except ValueError as exc:
        preview.error = str(exc)
        return preview
    preview.text = cron.describe(preview.expression)
    preview.next_runs = cron.next_runs(preview.expression, tz=tz, after=now or dj_timezone.now())
    return preview


def automation_schedule(*, automation: Automation, now: dt.datetime | None = None) -> SchedulePreview:
    return schedule_preview(expression=automation.cron, tz=automation.timezone, now=now)
