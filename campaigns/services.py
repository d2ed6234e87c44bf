"""Every write to campaigns, scenarios and emailers. Views, the API, admin actions, commands and tasks call these.

Lifecycle of a scenario (ARCHITECTURE §2):

    draft ──send/schedule──> scheduled ──(tick claims its Emailer)──> sending ──finished──> sent
      │                          │                                    │   ↑
      └──────────cancel──────────┴────────────cancel─────────────> cancelled / paused ──resume
                                                           failed <── the engine gives up

Edits are allowed only while draft or scheduled; after that a scenario can be paused, resumed, cancelled or
have its failed recipients retried, never edited.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import NoReverseMatch, reverse
from django.utils import timezone as dj_timezone

from accounts.models import Notification
from accounts.services import notification_create
from campaigns import selectors
from campaigns.display import subject_label
from campaigns.models import Campaign, Emailer, Scenario
from contacts import services as contact_services
from contacts.models import Batch, Contact, ImportJob
from delivery import services as delivery_services
from delivery.models import Send
from templates_app import services as template_services
from templates_app.models import MessageTemplate

logger = logging.getLogger(__name__)

S = Scenario.Status

# About 20,000 rows of name + email: imported within a request in well under a second or two.
INLINE_IMPORT_BYTES = 1024 * 1024


def _engine() -> Any:
    """The send engine's services (one seam, so unit tests can stand in for it)."""
    return delivery_services


class ScenarioStateError(Exception):
    """The scenario's state does not allow this operation. The API answers 409 with the message."""


# --- campaigns --------------------------------------------------------------------------------------------

CAMPAIGN_FIELDS = ("name", "description", "start_date", "end_date", "timezone", "segment", "channel", "status")


def _validate_campaign(campaign: Campaign) -> None:
    errors: dict[str, list[str]] = {}
    if not (campaign.name or "").strip():
        errors.setdefault("name", []).append("Give the campaign a name.")
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors.setdefault("end_date", []).append("The end date must be on or after the start date.")
    try:
        ZoneInfo(campaign.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.setdefault("timezone", []).append(f"Unknown time zone {campaign.timezone!r}.")
    if errors:
        raise ValidationError(errors)


def _validate_timeline_keeps_scenarios(campaign: Campaign) -> None:
    outside = campaign.scenarios.filter(status__in=Scenario.EDITABLE).exclude(
        send_date__range=(campaign.start_date, campaign.end_date)
    )
    first = outside.order_by("send_date").first()
    if first is not None:
        raise ValidationError(
            {
                "end_date" if first.send_date > campaign.end_date else "start_date": [
                    f"Scenario “{first.subject}” on {first.send_date} would fall outside the new timeline; "
                    "move or cancel it first."
                ]
            }
        )


def campaign_validate(*, campaign: Campaign) -> None:
    """The checks campaign_create/update run, for forms that want the message before saving (the admin)."""
    _validate_campaign(campaign)
    if campaign.pk:
        _validate_timeline_keeps_scenarios(campaign)


@transaction.atomic
def campaign_create(
    *,
    name: str,
    start_date: dt.date,
    end_date: dt.date,
    description: str = "",
    timezone: str = "",
    segment: Any = None,
    channel: str = Campaign.Channel.EMAIL,
    status: str = Campaign.Status.ACTIVE,
    user: Any = None,
) -> Campaign:
    """A campaign and its batch, in one transaction (seed 000: the batch exists from the start)."""
    campaign = Campaign(
        name=(name or "").strip(),
        description=description,
        start_date=start_date,
        end_date=end_date,
        timezone=timezone or settings.TIME_ZONE,
        segment=segment,
        channel=channel,
        status=status,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    _validate_campaign(campaign)
    campaign.batch = contact_services.batch_create(
        name=f"Campaign: {campaign.name}"[:200], source=Batch.Source.CAMPAIGN
    )
    campaign.save()
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, **changes: Any) -> Campaign:
    unknown = set(changes) - set(CAMPAIGN_FIELDS)
    if unknown:
        raise TypeError(f"campaign_update does not change {sorted(unknown)}")
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    old_status, old_zone = campaign.status, campaign.timezone
    for field, value in changes.items():
        setattr(campaign, field, value)
    _validate_campaign(campaign)
    _validate_timeline_keeps_scenarios(campaign)
    campaign.save(update_fields=[*changes.keys(), "updated_at"])
    if campaign.status != old_status or campaign.timezone != old_zone:
        _replan_campaign(campaign)
    return campaign


STARTED = (S.SENDING, S.SENT, S.PAUSED, S.FAILED)


@transaction.atomic
def campaign_delete(*, campaign_id: int) -> None:
    """Delete a campaign that never sent anything, with its scenarios and its batch (the contacts stay).

    Once a scenario has started, the campaign is history (seed 004): cancel it instead.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
    if campaign.scenarios.filter(status__in=STARTED).exists():
        raise ScenarioStateError("This campaign has scenarios that were sent or are sending; cancel it instead.")
    batch_id = campaign.batch_id
    campaign.delete()
    Batch.objects.filter(pk=batch_id).delete()


def campaigns_complete_ended(*, day: dt.date) -> int:
    """Mark active campaigns whose timeline ended before `day`, with nothing waiting or sending, `completed`.

    One conditional UPDATE: a campaign that still has a scheduled, sending or paused scenario stays active.
    """
    busy = Scenario.objects.filter(campaign_id=OuterRef("pk"), status__in=(S.SCHEDULED, S.SENDING, S.PAUSED))
    return (
        Campaign.objects.filter(status=Campaign.Status.ACTIVE, end_date__lt=day)
        .exclude(Exists(busy))
        .update(status=Campaign.Status.COMPLETED, updated_at=dj_timezone.now())
    )


def campaign_complete_if_over(*, campaign_id: int, now: dt.datetime | None = None) -> bool:
    """Mark one active campaign `completed` when its timeline is over in its own zone and nothing of it is waiting,
    sending or paused. Run when a send of the campaign ends; the daily plan sweeps the rest
    (`campaigns_complete_ended`). One conditional UPDATE: a concurrent edit that reopens it wins or loses whole."""
    campaign = Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE).first()
    if campaign is None or campaign.end_date >= selectors.campaign_today(campaign=campaign, now=now):
        return False
    busy = Scenario.objects.filter(campaign_id=OuterRef("pk"), status__in=(S.SCHEDULED, S.SENDING, S.PAUSED))
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.ACTIVE, end_date=campaign.end_date)
        .exclude(Exists(busy))
        .update(status=Campaign.Status.COMPLETED, updated_at=dj_timezone.now())
    )


def _replan_campaign(campaign: Campaign) -> None:
    """After a status or zone change: the campaign's waiting Emailers follow (a paused campaign sends nothing)."""
    for scenario in campaign.scenarios.select_related("campaign").filter(status=S.SCHEDULED):
        scenario.campaign = campaign
        _sync_plan(scenario)


# --- the campaign's contacts -------------------------------------------------------------------------------


def campaign_contacts_import(
    *, campaign: Campaign, file: Any, original_name: str = "", user: Any = None, run_now: bool | None = None
) -> ImportJob:
    """Seed 000's upload: a CSV into the campaign's batch through the one contacts import path.

    A small file (up to INLINE_IMPORT_BYTES) is imported here and now, so the caller can answer with the counts
    or the reason it failed (no email column: the job is `failed` with that message and nothing is imported);
    a bigger one is left to a worker and the caller answers with the pending job.
    """
    size = getattr(file, "size", None) or 0
    inline = size <= INLINE_IMPORT_BYTES if run_now is None else run_now
    job = contact_services.import_job_create(
        file=file,
        original_name=original_name or getattr(file, "name", "") or "contacts.csv",
        kind=ImportJob.Kind.CONTACTS,
        batch=campaign.batch,
        user=user,
        start=not inline,
    )
    if inline:
        job = contact_services.import_job_run(job_id=job.pk)
    return job


# --- scenarios --------------------------------------------------------------------------------------------

SCENARIO_FIELDS = ("subject", "content", "template", "send_date", "send_time")


def _validate_scenario(scenario: Scenario, *, now: dt.datetime | None = None) -> None:
    errors: dict[str, list[str]] = {}
    campaign = scenario.campaign
    if not (scenario.subject or "").strip():
        errors.setdefault("subject", []).append("Write a subject.")
    if not (scenario.content or "").strip() and scenario.template_id is None:
        errors.setdefault("content", []).append("Write the content or choose a template.")
    if scenario.template is not None and scenario.template.channel != campaign.channel:
        errors.setdefault("template", []).append(
            f"The template is for {scenario.template.get_channel_display()}, the campaign for {campaign.get_channel_display()}."
        )
    if scenario.send_date and not campaign.start_date <= scenario.send_date <= campaign.end_date:
        errors.setdefault("send_date", []).append(
            f"The send date must be inside the campaign's timeline ({campaign.start_date} to {campaign.end_date})."
        )
    if (
        scenario.status == S.SCHEDULED
        and "send_date" not in errors
        and scenario.send_date
        and scenario.send_time is not None
        and selectors.scenario_scheduled_at(scenario=scenario) < (now or dj_timezone.now()) - dt.timedelta(minutes=1)
    ):
        errors.setdefault("send_time", []).append(
            f"{scenario.send_date} {scenario.send_time:%H:%M} ({campaign.timezone}) has already passed; "
            "pick a later time or use Send now."
        )
    if errors:
        raise ValidationError(errors)


def scenario_validate(*, scenario: Scenario) -> None:
    """The checks scenario_create/update run, for forms that want the message before saving (the admin)."""
    _validate_scenario(scenario)


@transaction.atomic
def scenario_create(
    *,
    campaign: Campaign,
    subject: str,
    send_date: dt.date,
    send_time: dt.time,
    content: str = "",
    template: Any = None,
    draft: bool = False,
    user: Any = None,
) -> Scenario:
    """A scheduled scenario (seed 000), or a draft to be sent or scheduled later (seed 002).

    A scheduled scenario due before the next daily plan is planned at once.
    """
    scenario = Scenario(
        campaign=campaign,
        subject=(subject or "").strip(),
        content=content or "",
        template=template,
        send_date=send_date,
        send_time=send_time.replace(second=0, microsecond=0) if send_time else send_time,
        status=S.DRAFT if draft else S.SCHEDULED,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    _validate_scenario(scenario)
    scenario.save()
    _sync_plan(scenario)
    return scenario


def _lock_editable(scenario_id: int) -> Scenario:
    scenario = Scenario.objects.select_for_update().select_related("campaign").get(pk=scenario_id)
    if not scenario.is_editable:
        raise ScenarioStateError(
            f"This scenario is {scenario.get_status_display().lower()}; only draft or scheduled scenarios can be "
            "edited. Pause, resume or cancel it instead."
        )
    if Emailer.objects.filter(scenario_id=scenario.pk, dispatched_at__isnull=False).exists():
        raise ScenarioStateError("This scenario is being handed to the sender right now and can no longer be edited.")
    return scenario


@transaction.atomic
def scenario_update(*, scenario: Scenario, draft: bool | None = None, **changes: Any) -> Scenario:
    """Edit a draft or scheduled scenario; anything later raises ScenarioStateError (409 with the reason)."""
    unknown = set(changes) - set(SCENARIO_FIELDS)
    if unknown:
        raise TypeError(f"scenario_update does not change {sorted(unknown)}")
    locked = _lock_editable(scenario.pk)
    for field, value in changes.items():
        if field == "send_time" and value is not None:
            value = value.replace(second=0, microsecond=0)
        setattr(locked, field, value)
    if draft is not None:
        locked.status = S.DRAFT if draft else S.SCHEDULED
    _validate_scenario(locked)
    locked.save(update_fields=[*changes.keys(), "status", "updated_at"])
    _sync_plan(locked)
    return locked


@transaction.atomic
def scenario_delete(*, scenario_id: int) -> None:
    """Delete a draft or scheduled scenario (and its unclaimed Emailer); anything later is history."""
    scenario = _lock_editable(scenario_id)
    scenario.delete()


def _sync_plan(scenario: Scenario) -> None:
    """Give a scheduled scenario of an active campaign its Emailer when it is due before the next plan; take it
    back from anything else. Only an Emailer not yet claimed by the tick is touched."""
    if (
        scenario.status == S.SCHEDULED
        and scenario.campaign.status == Campaign.Status.ACTIVE
        and selectors.scenario_needs_plan_now(scenario=scenario)
    ):
        emailer_plan(scenario=scenario)
    else:
        Emailer.objects.filter(scenario_id=scenario.pk, dispatched_at__isnull=True, active=True).update(active=False)


@transaction.atomic
def scenario_send(*, scenario_id: int, at: dt.datetime | None = None, user: Any = None) -> Scenario:
    """Seed 002: send now (→ sending, handed to a worker on commit) or schedule at `at` (→ scheduled)."""
    scenario = _lock_editable(scenario_id)
    campaign = scenario.campaign
    now = dj_timezone.now()
    zone = selectors.campaign_zone(campaign=campaign)
    if at is None:
        if campaign.status != Campaign.Status.ACTIVE:
            raise ScenarioStateError(
                f"The campaign is {campaign.get_status_display().lower()}; make it active before sending."
            )
        local = now.astimezone(zone)
        scenario.send_date, scenario.send_time = local.date(), local.time().replace(second=0, microsecond=0)
        scenario.status = S.SENDING
    else:
        if dj_timezone.is_naive(at):
            at = at.replace(tzinfo=zone)
        local = at.astimezone(zone)
        scenario.send_date, scenario.send_time = local.date(), local.time().replace(second=0, microsecond=0)
        scenario.status = S.SCHEDULED
    _validate_scenario(scenario, now=now)
    scenario.save(update_fields=["send_date", "send_time", "status", "updated_at"])
    if at is not None:
        _sync_plan(scenario)
        return scenario
    emailer = emailer_plan(scenario=scenario, scheduled_at=now)
    claimed = Emailer.objects.filter(pk=emailer.pk, dispatched_at__isnull=True).update(dispatched_at=now)
    if claimed:
        from campaigns.tasks import emailer_run_task

        emailer_run_task.delay_on_commit(emailer.pk)
    return scenario


# --- emailers: the plan and the run -----------------------------------------------------------------------


@transaction.atomic
def emailer_plan(*, scenario: Scenario, scheduled_at: dt.datetime | None = None) -> Emailer:
    """Write the scenario's Emailer (`active=true, sent=false` at its time). Idempotent; one per scenario.

    An Emailer the tick already claimed is left alone: its run has begun.
    """
    campaign = scenario.campaign
    at = scheduled_at or selectors.scenario_scheduled_at(scenario=scenario)
    emailer, created = Emailer.objects.get_or_create(
        scenario=scenario,
        defaults={"campaign": campaign, "batch_id": campaign.batch_id, "scheduled_at": at, "active": True},
    )
    if created:
        return emailer
    changes: dict[str, Any] = {"active": True, "scheduled_at": at, "batch_id": campaign.batch_id}
    if emailer.scheduled_at != at:
        changes["notified_at"] = None  # a new time deserves a new "about to start"
    Emailer.objects.filter(pk=emailer.pk, dispatched_at__isnull=True, sent=False).update(**changes)
    emailer.refresh_from_db()
    return emailer


def emailer_run(*, emailer_id: int) -> int | None:
    """Hand a claimed Emailer to the engine: create its Send and snapshot the audience. Safe to call twice.

    Returns the number of recipients snapshotted, or None when there was nothing to do.
    """
    with transaction.atomic():
        emailer = Emailer.objects.select_for_update().select_related("campaign").filter(pk=emailer_id).first()
        if emailer is None or emailer.send_id is not None or not emailer.active or emailer.sent:
            return None
        scenario = Scenario.objects.select_for_update().get(pk=emailer.scenario_id)
        campaign = emailer.campaign
        if scenario.status not in (S.SCHEDULED, S.SENDING):
            Emailer.objects.filter(pk=emailer.pk).update(active=False)
            return None
        if campaign.status != Campaign.Status.ACTIVE:
            # Unclaim: when the campaign is made active again, its plan hands this row back to the tick.
            Emailer.objects.filter(pk=emailer.pk).update(active=False, dispatched_at=None)
            return None
        send = _engine().send_create(
            label=f"{campaign.name}: {scenario.subject}"[:200],
            subject=scenario.subject,
            body_text=scenario.content,
            template_id=scenario.template_id,
        )
        now = dj_timezone.now()
        Emailer.objects.filter(pk=emailer.pk).update(send=send, started_at=now)
        Scenario.objects.filter(pk=scenario.pk, status__in=(S.SCHEDULED, S.SENDING)).update(
            status=S.SENDING, updated_at=now
        )
        total = _engine().send_start(send_id=send.pk, audience=selectors.campaign_audience(campaign=campaign))
    logger.info("emailer %s: send %s started with %s recipients", emailer_id, send.pk, total)
    return total


# --- lifecycle after the send began -----------------------------------------------------------------------


def _lock_with_send(scenario_id: int) -> tuple[Scenario, Emailer | None]:
    # Lock order everywhere is Emailer, then Scenario (as in emailer_run and on_send_event), so no two of these
    # operations can deadlock on the same scenario.
    emailer = Emailer.objects.select_for_update().filter(scenario_id=scenario_id).first()
    scenario = Scenario.objects.select_for_update().select_related("campaign").get(pk=scenario_id)
    return scenario, emailer


def _actor(user: Any) -> str:
    return getattr(user, "username", "") or "an operator"


@transaction.atomic
def scenario_pause(*, scenario_id: int, reason: str = "", user: Any = None) -> Scenario:
    scenario, emailer = _lock_with_send(scenario_id)
    if scenario.status != S.SENDING:
        raise ScenarioStateError(
            f"Only a sending scenario can be paused; this one is {scenario.get_status_display().lower()}."
        )
    if emailer is None or emailer.send_id is None:
        raise ScenarioStateError("The send is still starting; try again in a second.")
    # Our status moves first, so the engine's `paused` event finds it paused and is not taken for an auto-pause.
    Scenario.objects.filter(pk=scenario.pk, status=S.SENDING).update(status=S.PAUSED, updated_at=dj_timezone.now())
    _engine().send_pause(send_id=emailer.send_id, reason=reason or f"Paused by {_actor(user)}")
    scenario.refresh_from_db()
    return scenario


@transaction.atomic
def scenario_resume(*, scenario_id: int, user: Any = None) -> Scenario:
    scenario, emailer = _lock_with_send(scenario_id)
    if scenario.status != S.PAUSED or emailer is None or emailer.send_id is None:
        raise ScenarioStateError(
            f"Only a paused scenario can be resumed; this one is {scenario.get_status_display().lower()}."
        )
    Scenario.objects.filter(pk=scenario.pk, status=S.PAUSED).update(status=S.SENDING, updated_at=dj_timezone.now())
    _engine().send_resume(send_id=emailer.send_id)
    scenario.refresh_from_db()
    return scenario


def scenario_cancel(*, scenario_id: int, user: Any = None) -> Scenario:
    """Stop a scenario for good: before it starts (nothing is sent) or while sending (the rest is not sent)."""
    with transaction.atomic():
        scenario, emailer = _lock_with_send(scenario_id)
        if scenario.status not in (S.DRAFT, S.SCHEDULED, S.SENDING, S.PAUSED):
            raise ScenarioStateError(f"A {scenario.get_status_display().lower()} scenario cannot be cancelled.")
        now = dj_timezone.now()
        Scenario.objects.filter(pk=scenario.pk, status=scenario.status).update(status=S.CANCELLED, updated_at=now)
        send_id = None
        if emailer is not None:
            Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, finished_at=now)
            send_id = emailer.send_id
    if send_id is not None:
        # After our commit, not inside it: the engine commits the Send's status, then cancels its queued rows,
        # waiting for pages in flight. Inside our transaction that wait would hold our locks, and the Send row
        # lock we would hold is what those pages need to write their counters: a deadlock.
        _engine().send_cancel(send_id=send_id, reason=f"Cancelled by {_actor(user)}")
    return Scenario.objects.select_related("campaign").get(pk=scenario_id)


@transaction.atomic
def scenario_retry_failed(*, scenario_id: int, user: Any = None) -> Scenario:
    """Queue the failed recipients of a sent, failed or paused scenario again; it is `sending` until they finish."""
    scenario, emailer = _lock_with_send(scenario_id)
    if scenario.status not in (S.SENT, S.FAILED, S.PAUSED) or emailer is None or emailer.send_id is None:
        raise ScenarioStateError(
            f"Only a sent, failed or paused scenario has failed recipients to retry; this one is "
            f"{scenario.get_status_display().lower()}."
        )
    requeued = _engine().send_retry_failed(send_id=emailer.send_id)
    if isinstance(requeued, int) and requeued == 0:
        raise ScenarioStateError("No failed recipients to retry.")
    # The engine publishes `finished` again when the retried rows are done; reopen the Emailer so it closes again.
    Emailer.objects.filter(pk=emailer.pk).update(active=True, sent=False, finished_at=None)
    Scenario.objects.filter(pk=scenario.pk, status=scenario.status).update(
        status=S.SENDING, updated_at=dj_timezone.now()
    )
    scenario.refresh_from_db()
    return scenario


# The template page's error, raised by `scenario_test_send` too.
TestSendError = template_services.TestSendError


def scenario_test_send(*, scenario: Scenario, to: str, contact: Contact | None = None) -> str:
    """The "send me a test" of a scenario: rendered as `contact` (or an anonymous reader) and sent to `to` alone, through
    the template page's test send (same rendering, same transport, a "[Test]" subject). As in the real send, the
    scenario's subject wins over its template's; plain content is a text template. Nothing is stored."""
    if scenario.template is not None:
        source = scenario.template
        message = MessageTemplate(
            name=source.name,
            channel=source.channel,
            templating_type=source.templating_type,
            subject=scenario.subject or source.subject,
            message=source.message,
        )
    else:
        message = MessageTemplate(
            name=scenario.subject,
            channel=MessageTemplate.Channel.EMAIL,
            templating_type=MessageTemplate.TemplatingType.TEXT,
            subject=scenario.subject,
            message=scenario.content,
        )
    return template_services.template_test_send(template=message, to=to, contact=contact)


SCENARIO_ACTIONS = {
    "pause": scenario_pause,
    "resume": scenario_resume,
    "cancel": scenario_cancel,
    "retry": scenario_retry_failed,
}


def scenario_action(*, scenario_id: int, action: str, user: Any = None) -> Scenario:
    """One entry point for the dashboard buttons, the API's action routes and the `scenario` command."""
    if action == "send":
        return scenario_send(scenario_id=scenario_id, user=user)
    try:
        service = SCENARIO_ACTIONS[action]
    except KeyError:
        raise ValueError(f"Unknown action {action!r}") from None
    return service(scenario_id=scenario_id, user=user)


# --- what the engine tells us -----------------------------------------------------------------------------


def _scenario_url(scenario: Scenario) -> str:
    try:
        return reverse("campaigns:scenario-detail", args=[scenario.pk])
    except NoReverseMatch:  # the dashboard page is optional for the engine's callers (commands, workers)
        return ""


def _notify(scenario: Scenario, *, title: str, body: str = "", level: str = Notification.Level.INFO) -> None:
    user = scenario.created_by or scenario.campaign.created_by
    notification_create(user=user, title=title, body=body, url=_scenario_url(scenario), level=level)


def on_send_event(send_id: int, event: str, reason: str = "") -> None:
    """The `delivery.events` subscriber (registered in CampaignsConfig.ready). Every change is conditional, so a
    repeated event, or one that follows our own pause/cancel, changes nothing and notifies nobody twice."""
    emailer = Emailer.objects.filter(send_id=send_id).select_related("scenario", "scenario__campaign").first()
    if emailer is None:
        return  # a send of another app (an automation)
    scenario = emailer.scenario
    now = dj_timezone.now()
    label = f"“{subject_label(scenario.subject)}” ({scenario.campaign.name})"
    with transaction.atomic():
        if event == "started":
            Scenario.objects.filter(pk=scenario.pk, status=S.SCHEDULED).update(status=S.SENDING, updated_at=now)
            total = Send.objects.filter(pk=send_id).values_list("total", flat=True).first() or 0
            _notify(scenario, title=f"Sending started: {label}", body=f"{total} recipients.")
        elif event == "finished":
            closed = Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, sent=True, finished_at=now)
            send = Send.objects.get(pk=send_id)
            changed = (
                Scenario.objects.filter(pk=scenario.pk)
                .exclude(status__in=(S.SENT, S.CANCELLED))
                .update(status=S.SENT, sent_at=now, contacts_served=send.sent, updated_at=now)
            )
            if closed or changed:
                body = f"{send.sent} sent" + (f", {send.failed} failed" if send.failed else "") + "."
                _notify(scenario, title=f"Completed: {label}", body=body, level=Notification.Level.SUCCESS)
        elif event == "paused":
            if Scenario.objects.filter(pk=scenario.pk, status=S.SENDING).update(status=S.PAUSED, updated_at=now):
                # We did not ask for it (our own pause moved the status first): the engine paused on its own.
                _notify(scenario, title=f"Auto-paused: {label}", body=reason, level=Notification.Level.WARNING)
        elif event == "resumed":
            Scenario.objects.filter(pk=scenario.pk, status=S.PAUSED).update(status=S.SENDING, updated_at=now)
        elif event == "cancelled":
            Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, finished_at=now)
            Scenario.objects.filter(pk=scenario.pk, status__in=(S.SENDING, S.PAUSED, S.SCHEDULED)).update(
                status=S.CANCELLED, updated_at=now
            )
        elif event == "failed":
            Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, finished_at=now)
            send_sent = Send.objects.filter(pk=send_id).values_list("sent", flat=True).first() or 0
            if (
                Scenario.objects.filter(pk=scenario.pk)
                .exclude(status__in=(S.FAILED, S.CANCELLED))
                .update(status=S.FAILED, contacts_served=send_sent, updated_at=now)
            ):
                _notify(scenario, title=f"Failed: {label}", body=reason, level=Notification.Level.DANGER)
        if event in ("finished", "failed", "cancelled"):
            # The campaign's last send ending after its timeline closes the campaign now, not at the next plan.
            campaign_complete_if_over(campaign_id=scenario.campaign_id, now=now)


def emailers_notify_upcoming(*, now: dt.datetime | None = None) -> int:
    """Tell creators their scenario starts within NOTIFY_LEAD_MINUTES. Each Emailer is claimed once."""
    now = now or dj_timezone.now()
    horizon = now + dt.timedelta(minutes=settings.NOTIFY_LEAD_MINUTES)
    with transaction.atomic():
        ids = list(
            Emailer.objects.select_for_update(skip_locked=True)
            .filter(active=True, dispatched_at__isnull=True, notified_at__isnull=True, scheduled_at__lte=horizon)
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Emailer.objects.filter(pk__in=ids, notified_at__isnull=True).update(notified_at=now)
        for emailer in Emailer.objects.filter(pk__in=ids).select_related("scenario", "scenario__campaign"):
            minutes = max(0, round((emailer.scheduled_at - now).total_seconds() / 60))
            _notify(
                emailer.scenario,
                title=f"About to start: “{subject_label(emailer.scenario.subject)}”",
                body=f"Campaign {emailer.scenario.campaign.name} sends in about {minutes} min "
                f"({dj_timezone.localtime(emailer.scheduled_at):%Y-%m-%d %H:%M}).",
            )
    return len(ids)


# --- recovery (run by the tick) ---------------------------------------------------------------------------

# Longer than the slowest healthy `emailer_run` (one snapshot statement, seconds even for a million contacts).
EMAILER_STALE_AFTER = dt.timedelta(minutes=2)

_CLOSING_EVENTS: dict[str, str] = {
    Send.Status.DONE: "finished",
    Send.Status.FAILED: "failed",
    Send.Status.CANCELLED: "cancelled",
}


def emailers_redispatch_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Hand a claimed Emailer whose run never started (its worker died before `emailer_run` committed) to a
    worker again. Re-claimed by a conditional update on its old `dispatched_at`, so one tick re-enqueues it once;
    `emailer_run` is idempotent under the row lock, so a late original run does no harm."""
    from campaigns.tasks import emailer_run_task

    now = now or dj_timezone.now()
    stale = Emailer.objects.filter(
        active=True, sent=False, send__isnull=True, dispatched_at__lte=now - EMAILER_STALE_AFTER
    ).values_list("pk", "dispatched_at")
    again: list[int] = []
    with transaction.atomic():
        for emailer_id, claimed_at in stale:
            if Emailer.objects.filter(pk=emailer_id, dispatched_at=claimed_at, send__isnull=True).update(
                dispatched_at=now
            ):
                again.append(emailer_id)
                emailer_run_task.delay_on_commit(emailer_id)
    if again:
        logger.warning("emailers %s were claimed but never started; dispatched again", again)
    return again


def emailers_reconcile() -> int:
    """Close Emailers whose Send ended while its event was lost (the process died between the engine's commit
    and the publish). `on_send_event` is conditional, so replaying an event that did arrive changes nothing."""
    open_ended = Emailer.objects.filter(active=True, sent=False, send__status__in=list(_CLOSING_EVENTS)).values_list(
        "send_id", "send__status", "send__status_reason"
    )
    replayed = 0
    for send_id, status, reason in open_ended:
        on_send_event(send_id, _CLOSING_EVENTS[status], reason)
        replayed += 1
    return replayed
