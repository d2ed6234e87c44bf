"""Writes of automations: the row and its django-celery-beat PeriodicTask change together, and each firing is
one AutomationRun handing one Send to the delivery engine.

In step with beat: every write below saves the Automation and its PeriodicTask (+ CrontabSchedule in the
automation's zone) in ONE transaction, through the models' save()/delete() so django-celery-beat's own signals
bump `PeriodicTasks.last_update` and a running beat reloads its schedule without a restart.

Exactly once per due time: `automation_run` INSERTs the AutomationRun first; the unique (automation, due_at)
makes a second firing of the same due time (beat twice, a retried task, `run_automation --at`, a button) fail
that INSERT and change nothing. Runs of one automation are serialised by a lock on the Automation row, so
"is the previous run still sending?" cannot be answered by two firings at once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.urls import NoReverseMatch, reverse
from django.utils import timezone as dj_timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from accounts.models import Notification
from accounts.services import notification_create
from automations import cron
from automations.models import Automation, AutomationRun
from delivery import services as delivery_services
from delivery.models import Send
from segments.errors import SegmentError
from segments.models import Segment
from segments.selectors import segment_contact_ids
from templates_app import services as template_services
from templates_app.models import MessageTemplate

logger = logging.getLogger(__name__)

R = AutomationRun.Status
TASK = "automations.tasks.automation_fire_task"
TASK_PREFIX = "automation-"
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
)
DEFAULT_CATCHUP_MINUTES = 60
SKIP_PREVIOUS = "previous run still sending"
SKIP_MISSED = "missed"
WHATSAPP_REFUSED = "WhatsApp sending is not available yet: choose an email template."


def _engine() -> Any:
    """The send engine's services (one seam, as in campaigns)."""
    return delivery_services


class AutomationStateError(Exception):
    """The automation's state does not allow this operation (the API answers 409)."""


# --- validation --------------------------------------------------------------------------------------------


def _audience(segment: Segment) -> Any:
    return segment_contact_ids(segment=segment)


def automation_activation_problems(*, automation: Automation) -> list[str]:
    """Why the automation cannot be active: the template's pre-send check over the segment's contacts now
    (the same `template_check` the template page runs), with who fails each problem."""
    if automation.template is None or automation.segment is None:
        return ["Choose a segment and a template."]
    try:
        report = template_services.template_check(
            template=automation.template, audience_ids=_audience(automation.segment)
        )
    except SegmentError as exc:
        return [f"The segment cannot be evaluated: {exc}"]
    problems = list(report.problems)
    # For a scenario a missing link is only a warning (the engine appends a footer, templates_app's check); an
    # automation keeps sending by itself to whoever enters the segment, so here it blocks activation.
    if report.compiles and not report.has_unsubscribe:
        problems.append(
            f"No {{{{ unsubscribe_url }}}} link: an automation sends by itself, so its email must carry one "
            f"(it would reach all {report.audience_size or 0:,} contacts of the segment now)."
        )
    for variable in report.unresolved:
        if variable.sample:
            problems.append(f"{{{{ {variable.expression} }}}} is empty for e.g. {', '.join(variable.sample)}.")
    return problems


def _validate(automation: Automation, *, check_template: bool) -> None:
    errors: dict[str, list[str]] = {}
    if not (automation.name or "").strip():
        errors.setdefault("name", []).append("Give the automation a name.")
    try:
        automation.cron = cron.validate(automation.cron or "")
    except cron.CronError as exc:
        errors.setdefault("cron", []).append(str(exc))
    try:
        cron.zone(automation.timezone or "")
    except ValueError as exc:
        errors.setdefault("timezone", []).append(str(exc))
    if automation.start_date and automation.end_date and automation.end_date < automation.start_date:
        errors.setdefault("end_date", []).append("The end date is before the start date.")
    if automation.segment_id is None:
        errors.setdefault("segment", []).append("Choose a segment.")
    if automation.template_id is None:
        errors.setdefault("template", []).append("Choose a template.")
    elif automation.template is not None and automation.template.channel == MessageTemplate.Channel.WHATSAPP:
        errors.setdefault("template", []).append(WHATSAPP_REFUSED)
    if errors:
        raise ValidationError(errors)
    if check_template and automation.is_active:
        problems = automation_activation_problems(automation=automation)
        if problems:
            raise ValidationError({"template": ["It cannot be activated: " + " ".join(problems)]})


def automation_validate(*, automation: Automation) -> None:
    """The checks create/update run, for forms that want the message before saving (the admin)."""
    _validate(automation, check_template=True)


# --- in step with django-celery-beat ----------------------------------------------------------------------


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


# --- lifecycle ---------------------------------------------------------------------------------------------


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


# --- firing ------------------------------------------------------------------------------------------------


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
    return dt.timedelta(minutes=int(getattr(settings, "AUTOMATION_CATCHUP_MINUTES", DEFAULT_CATCHUP_MINUTES)))


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
                label=f"Automation: {automation.name}"[:200], subject=template.subject, template_id=template.pk
            )
            AutomationRun.objects.filter(pk=run.pk).update(send=send)
            total = _engine().send_start(send_id=send.pk, audience=_audience(segment))
    except (SegmentError, DatabaseError) as exc:
        reason = f"The segment could not be evaluated: {exc}"
        _fail(run, reason, now)
        transaction.on_commit(lambda: _notify_run(run.pk, "Run failed", reason, Notification.Level.DANGER))
        return
    AutomationRun.objects.filter(pk=run.pk).update(audience_size=total)


# --- catch-up (firings missed while beat was down) ----------------------------------------------------------

# How many missed firings of one automation a sweep records: the latest ones (an every-minute automation down for a
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
    silence = float(getattr(settings, "SCHEDULER_TICK_SECONDS", 1)) * 3
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


# --- what the engine tells us -------------------------------------------------------------------------------


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
            send = Send.objects.filter(pk=send_id).values_list("total", flat=True).first() or 0
            if run.status == R.RUNNING:
                _notify(automation, title=f"Run started: automation “{automation.name}”", body=f"{send} recipients.")
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
