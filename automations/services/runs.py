"""Firing an automation: each firing is one AutomationRun handing one Send to the delivery engine, and the run
ends when the engine says the Send did (`on_send_event`).

Exactly once per due time: `automation_run` INSERTs the AutomationRun first; the unique (automation, due_at)
makes a second firing of the same due time (beat twice, a retried task, `run_automation --at`, a button) fail
that INSERT and change nothing. Runs of one automation are serialised by a lock on the Automation row, so
"is the previous run still sending?" cannot be answered by two firings at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone as dj_timezone

from accounts.models import Notification
from automations import cron
from automations import services as _services  # `_audience` is looked up there, so a test can patch it
from automations.models import Automation, AutomationRun
from automations.services.lifecycle import automation_pause
from automations.services.notifications import _notify, _notify_run
from automations.services.validation import WHATSAPP_REFUSED
from delivery import services as delivery_services
from delivery.models import Send
from segments.errors import SegmentError
from templates_app.models import MessageTemplate

logger = logging.getLogger("automations.services")

R = AutomationRun.Status
DEFAULT_CATCHUP_MINUTES = 60
SKIP_PREVIOUS = "previous run still sending"
SKIP_MISSED = "missed"


def _engine() -> Any:
    """The send engine's services (one seam, as in campaigns)."""
    return delivery_services


@dataclass(frozen=True)
class RunResult:
    run: AutomationRun | None
    created: bool

    @property
    def summary(self) -> str:
        run = self.run
        if run is None:
            return "No such automation."
        when = f"{run.due_at:%Y-%m-%d %H:%M %Z}"
        prefix = "" if self.created else f"Already ran for {when}: "
        text = f"run #{run.pk} for {when} {run.get_status_display().lower()}"
        if run.reason:
            text += f" ({run.reason})"
        if run.status != R.SKIPPED:
            text += f"; audience {run.audience_size}, sent {run.sent}, failed {run.failed}"
        return prefix + text


def _catchup() -> dt.timedelta:
    return dt.timedelta(minutes=int(settings.AUTOMATION_CATCHUP_MINUTES))


def _skip(run: AutomationRun, reason: str, now: dt.datetime) -> None:
    if AutomationRun.objects.filter(pk=run.pk, status=R.RUNNING).update(
        status=R.SKIPPED, reason=reason[:500], finished_at=now
    ):
        body = f"The firing due {run.due_at:%Y-%m-%d %H:%M %Z} sent nothing: {reason}."
        transaction.on_commit(lambda: _notify_run(run.pk, "Run skipped", body, Notification.Level.WARNING))


def _fail(run: AutomationRun, reason: str, now: dt.datetime) -> None:
    AutomationRun.objects.filter(pk=run.pk).update(status=R.FAILED, reason=reason[:500], finished_at=now)


def automation_fire(*, automation_id: int, due_at: dt.datetime | None = None) -> RunResult:
    """What beat's PeriodicTask runs: the firing due now (the latest cron time <= now in the automation's zone)."""
    if due_at is None:
        automation = Automation.objects.filter(pk=automation_id).only("cron", "timezone").first()
        if automation is None:
            return RunResult(None, False)
        due_at = cron.latest_due(automation.cron, tz=automation.timezone, now=dj_timezone.now())
    return automation_run(automation_id=automation_id, due_at=due_at)


def automation_run_now(*, automation_id: int, at: dt.datetime | None = None) -> RunResult:
    """Run now (a button, the API, `run_automation`): the same path as beat, due at this minute (or `at`), so a
    second click within the minute, or a repeated `--at`, is the same due time and does nothing."""
    due_at = at if at is not None else dj_timezone.now().replace(second=0, microsecond=0)
    return automation_run(automation_id=automation_id, due_at=due_at, trigger=AutomationRun.Trigger.MANUAL)


def automation_run(
    *, automation_id: int, due_at: dt.datetime, trigger: str = AutomationRun.Trigger.SCHEDULE
) -> RunResult:
    """One firing: record it (once per due time), decide whether it sends, and hand the segment to the engine
    as one Send. The run becomes sent / failed when the engine says the Send ended (`on_send_event`)."""
    now = dj_timezone.now()
    with transaction.atomic():
        automation = (
            Automation.objects.select_for_update(of=("self",))
            .select_related("segment", "template")
            .filter(pk=automation_id)
            .first()
        )
        if automation is None:
            return RunResult(None, False)
        try:
            with transaction.atomic():
                run = AutomationRun.objects.create(
                    automation=automation, due_at=due_at, trigger=trigger, status=R.RUNNING, started_at=now
                )
        except IntegrityError:
            existing = AutomationRun.objects.filter(automation_id=automation_id, due_at=due_at).first()
            return RunResult(existing, False)
        scheduled = trigger == AutomationRun.Trigger.SCHEDULE
        local_due = due_at.astimezone(cron.zone(automation.timezone)).date()
        if scheduled and not automation.is_active:
            _skip(run, "automation paused", now)
        elif now - due_at > _catchup():
            _skip(run, SKIP_MISSED, now)
        elif scheduled and automation.end_date is not None and local_due > automation.end_date:
            _skip(run, "after the end date", now)
            automation_pause(automation_id=automation.pk, reason=f"Ended on {automation.end_date}")
        elif scheduled and automation.start_date is not None and local_due < automation.start_date:
            _skip(run, "before the start date", now)
        elif AutomationRun.objects.filter(automation_id=automation_id, status=R.RUNNING).exclude(pk=run.pk).exists():
            _skip(run, SKIP_PREVIOUS, now)
        else:
            _start(automation, run, now)
    run.refresh_from_db()
    logger.info("automation %s: %s", automation_id, RunResult(run, True).summary)
    return RunResult(run, True)


def _start(automation: Automation, run: AutomationRun, now: dt.datetime) -> None:
    template, segment = automation.template, automation.segment
    if template is None or segment is None:
        _fail(run, "The segment or the template was deleted.", now)
        return
    if template.channel == MessageTemplate.Channel.WHATSAPP:
        _fail(run, WHATSAPP_REFUSED, now)
        return
    try:
        # A savepoint: a segment that errors (a SQL segment timing out) fails this run, and the next firing runs.
        with transaction.atomic():
            send = _engine().send_create(
                label=f"Automation: {automation.name}"[:200],
                subject=template.subject,
                template_id=template.pk,
                track_opens=automation.track_opens,
                track_clicks=automation.track_clicks,
            )
            AutomationRun.objects.filter(pk=run.pk).update(send=send)
            total = _engine().send_start(send_id=send.pk, audience=_services._audience(segment))
    except (SegmentError, DatabaseError) as exc:
        reason = f"The segment could not be evaluated: {exc}"
        _fail(run, reason, now)
        transaction.on_commit(lambda: _notify_run(run.pk, "Run failed", reason, Notification.Level.DANGER))
        return
    AutomationRun.objects.filter(pk=run.pk).update(audience_size=total)


# --- what the engine tells us -------------------------------------------------------------------------------


def on_send_event(send_id: int, event: str, reason: str = "") -> None:
    """The `delivery.events` subscriber (AutomationsConfig.ready). Conditional updates: a repeated event changes
    nothing and notifies nobody twice."""
    run = AutomationRun.objects.filter(send_id=send_id).select_related("automation", "automation__created_by").first()
    if run is None:
        return  # a send of another app (a scenario)
    automation = run.automation
    now = dj_timezone.now()
    with transaction.atomic():
        if event == "started":
            row = Send.objects.filter(pk=send_id).values_list("total", "snapshot_rest_sql").first() or (0, "")
            # A large audience is still being written when its first page goes out (the two-part snapshot).
            body = "The first emails are going out while the rest of the audience is prepared." if row[1] else ""
            if run.status == R.RUNNING:
                _notify(
                    automation,
                    title=f"Run started: automation “{automation.name}”",
                    body=body or f"{row[0]} recipients.",
                )
        elif event == "finished":
            send_row = Send.objects.get(pk=send_id)
            if AutomationRun.objects.filter(pk=run.pk, status=R.RUNNING).update(
                status=R.SENT, sent=send_row.sent, failed=send_row.failed, audience_size=send_row.total, finished_at=now
            ):
                body = f"{send_row.sent} sent" + (f", {send_row.failed} failed" if send_row.failed else "") + "."
                _notify(
                    automation,
                    title=f"Run finished: automation “{automation.name}”",
                    body=body,
                    level=Notification.Level.SUCCESS,
                )
        elif event in ("failed", "cancelled"):
            send_row = Send.objects.get(pk=send_id)
            text = reason or ("Send cancelled" if event == "cancelled" else "Send failed")
            if AutomationRun.objects.filter(pk=run.pk, status=R.RUNNING).update(
                status=R.FAILED, reason=text[:500], sent=send_row.sent, failed=send_row.failed, finished_at=now
            ):
                _notify(
                    automation,
                    title=f"Run failed: automation “{automation.name}”",
                    body=text,
                    level=Notification.Level.DANGER,
                )
        elif event == "paused" and reason:
            _notify(
                automation,
                title=f"Run paused: automation “{automation.name}”",
                body=reason,
                level=Notification.Level.WARNING,
            )
