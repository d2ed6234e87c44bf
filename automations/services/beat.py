"""Keeping each automation's django-celery-beat PeriodicTask (+ CrontabSchedule in the automation's zone) in step
with its row, through the models' save()/delete() so django-celery-beat's own signals bump
`PeriodicTasks.last_update` and a running beat reloads its schedule without a restart."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from automations import cron
from automations.models import Automation

TASK = "automations.tasks.automation_fire_task"
TASK_PREFIX = "automation-"


def _start_time(automation: Automation) -> dt.datetime | None:
    if automation.start_date is None:
        return None
    return dt.datetime.combine(automation.start_date, dt.time(0), tzinfo=cron.zone(automation.timezone))


def _crontab(automation: Automation) -> CrontabSchedule:
    fields = cron.crontab_fields(automation.cron)
    schedule = CrontabSchedule.objects.filter(**fields, timezone=automation.timezone).order_by("id").first()
    if schedule is None:
        schedule = CrontabSchedule.objects.create(**fields, timezone=automation.timezone)
    return schedule


def _task_values(automation: Automation, crontab: CrontabSchedule) -> dict[str, Any]:
    return {
        "task": TASK,
        "crontab": crontab,
        "interval": None,
        "clocked": None,
        "solar": None,
        "args": json.dumps([automation.pk]),
        "kwargs": "{}",
        "enabled": automation.is_active,
        "start_time": _start_time(automation),
        "one_off": False,
        "description": f"Automation “{automation.name}”"[:200],
    }


def _sync_task(automation: Automation, *, dry_run: bool = False) -> str:
    """Make the automation's PeriodicTask match the row. Returns "created", "updated" or "" (already in step)."""
    name = automation.periodic_task_name
    task = PeriodicTask.objects.filter(name=name).select_related("crontab").first()
    fields = cron.crontab_fields(automation.cron)
    crontab_matches = (
        task is not None
        and task.crontab is not None
        and all(str(getattr(task.crontab, key)) == value for key, value in fields.items())
        and str(task.crontab.timezone) == automation.timezone
    )
    if task is not None and crontab_matches:
        wanted = _task_values(automation, task.crontab)  # type: ignore[arg-type]
        if all(getattr(task, key) == value for key, value in wanted.items()):
            return ""
    if dry_run:
        return "updated" if task is not None else "created"
    crontab = task.crontab if task is not None and crontab_matches else _crontab(automation)
    values = _task_values(automation, crontab)  # type: ignore[arg-type]
    if task is None:
        PeriodicTask.objects.create(name=name, **values)
        return "created"
    for key, value in values.items():
        setattr(task, key, value)
    task.save()
    return "updated"


def _remove_task(automation_id: int) -> int:
    # Model delete (not a queryset delete) so django-celery-beat's signal tells beat to reload.
    removed = 0
    for task in PeriodicTask.objects.filter(name=f"{TASK_PREFIX}{automation_id}"):
        task.delete()
        removed += 1
    return removed


# --- refresh (the seed's refresh_automation.sh) -----------------------------------------------------------


@dataclass
class RefreshReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


@transaction.atomic
def automations_refresh(*, dry_run: bool = False) -> RefreshReport:
    """Rebuild every automation's PeriodicTask from the database and remove the orphans. A second run changes
    nothing; `dry_run` reports without writing."""
    report = RefreshReport()
    ids: set[int] = set()
    for automation in Automation.objects.order_by("id"):
        ids.add(automation.pk)
        outcome = _sync_task(automation, dry_run=dry_run)
        if outcome == "created":
            report.created.append(automation.periodic_task_name)
        elif outcome == "updated":
            report.updated.append(automation.periodic_task_name)
    for task in PeriodicTask.objects.filter(name__startswith=TASK_PREFIX, task=TASK).order_by("name"):
        suffix = task.name.removeprefix(TASK_PREFIX)
        if not suffix.isdigit() or int(suffix) not in ids:
            report.removed.append(task.name)
            if not dry_run:
                task.delete()
    return report
