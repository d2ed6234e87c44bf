"""Telling an automation's creator what happened to it (accounts' notifications, linked to the automation's page)."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from accounts.models import Notification
from accounts.services import notification_create
from automations.models import Automation, AutomationRun


def _automation_url(automation_id: int) -> str:
    try:
        return reverse("automations:detail", args=[automation_id])
    except NoReverseMatch:
        return ""


def _notify(automation: Automation, *, title: str, body: str = "", level: str = Notification.Level.INFO) -> None:
    notification_create(
        user=automation.created_by, title=title, body=body, url=_automation_url(automation.pk), level=level
    )


def _notify_run(run_id: int, what: str, body: str, level: str) -> None:
    run = AutomationRun.objects.select_related("automation", "automation__created_by").filter(pk=run_id).first()
    if run is not None:
        _notify(run.automation, title=f"{what}: automation “{run.automation.name}”", body=body, level=level)
