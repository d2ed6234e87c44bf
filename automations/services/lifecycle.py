"""Create, update, pause, resume and delete an automation: each write saves the Automation and its PeriodicTask in
ONE transaction (`beat._sync_task`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone as dj_timezone

from accounts.models import Notification
from automations.models import Automation
from automations.services.beat import _remove_task, _sync_task
from automations.services.notifications import _notify
from automations.services.validation import _validate
from segments.models import Segment
from templates_app.models import MessageTemplate

AUTOMATION_FIELDS = (
    "name",
    "description",
    "segment",
    "template",
    "cron",
    "timezone",
    "is_active",
    "start_date",
    "end_date",
    "track_opens",
    "track_clicks",
)


@transaction.atomic
def automation_create(
    *,
    name: str,
    segment: Segment | None,
    template: MessageTemplate | None,
    cron: str,
    timezone: str = "",
    description: str = "",
    is_active: bool = True,
    start_date: dt.date | None = None,
    end_date: dt.date | None = None,
    track_opens: bool = True,
    track_clicks: bool = True,
    user: Any = None,
) -> Automation:
    automation = Automation(
        name=(name or "").strip(),
        description=description or "",
        segment=segment,
        template=template,
        cron=cron or "",
        timezone=timezone or settings.TIME_ZONE,
        is_active=is_active,
        start_date=start_date,
        end_date=end_date,
        track_opens=track_opens,
        track_clicks=track_clicks,
        created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
    )
    _validate(automation, check_template=True)
    automation.save()
    _sync_task(automation)
    return automation


def _lock(automation_id: int) -> Automation:
    return (
        Automation.objects.select_for_update(of=("self",)).select_related("segment", "template").get(pk=automation_id)
    )


@transaction.atomic
def automation_update(*, automation: Automation, **changes: Any) -> Automation:
    unknown = set(changes) - set(AUTOMATION_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    locked = _lock(automation.pk)
    was_active = locked.is_active
    for key, value in changes.items():
        setattr(locked, key, value.strip() if key == "name" and isinstance(value, str) else value)
    # The pre-send check runs when the automation becomes (or stays) active with a new segment or template.
    recheck = locked.is_active and (not was_active or bool({"segment", "template"} & set(changes)))
    _validate(locked, check_template=recheck)
    update_fields = [*changes, "updated_at"]
    if locked.is_active and not was_active:
        locked.paused_reason = ""
        update_fields.append("paused_reason")
    locked.save(update_fields=update_fields)
    _sync_task(locked)
    return locked


@transaction.atomic
def automation_pause(*, automation_id: int, reason: str = "") -> Automation:
    automation = _lock(automation_id)
    if Automation.objects.filter(pk=automation_id, is_active=True).update(
        is_active=False, paused_reason=(reason or "Paused")[:500], updated_at=dj_timezone.now()
    ):
        automation.refresh_from_db()
    _sync_task(automation)
    return automation


@transaction.atomic
def automation_resume(*, automation_id: int) -> Automation:
    automation = _lock(automation_id)
    if automation.is_active:
        _sync_task(automation)
        return automation
    automation.is_active = True
    _validate(automation, check_template=True)
    Automation.objects.filter(pk=automation_id, is_active=False).update(
        is_active=True, paused_reason="", updated_at=dj_timezone.now()
    )
    automation.refresh_from_db()
    _sync_task(automation)
    return automation


@transaction.atomic
def automation_delete(*, automation_id: int) -> None:
    Automation.objects.filter(pk=automation_id).delete()
    _remove_task(automation_id)


def automations_pause_for_deleted(*, segment_id: int | None = None, template_id: int | None = None) -> int:
    """A segment or template is being deleted: the active automations using it are paused with the reason, and
    their creators told. Runs inside the delete's transaction (a pre_delete receiver, AutomationsConfig.ready)."""
    automations = Automation.objects.active().select_related("segment", "template", "created_by")
    if segment_id is not None:
        automations = automations.filter(segment_id=segment_id)
        what = "segment"
    else:
        automations = automations.filter(template_id=template_id)
        what = "template"
    paused = 0
    for automation in list(automations):
        thing = automation.segment if what == "segment" else automation.template
        reason = f"Its {what} “{thing}” was deleted."
        automation_pause(automation_id=automation.pk, reason=reason)
        _notify(
            automation, title=f"Paused: automation “{automation.name}”", body=reason, level=Notification.Level.WARNING
        )
        paused += 1
    return paused
