"""Reads of automations: lists, one automation, its runs, and the schedule shown for a cron expression."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone as dj_timezone

from automations import cron
from automations.models import Automation, AutomationRun

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
