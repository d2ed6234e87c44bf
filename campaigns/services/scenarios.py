"""Writes of scenarios: create, edit, delete, send or schedule, and the lifecycle buttons after the send began.

    draft ──send/schedule──> scheduled ──(its Emailer is dispatched, the engine starts)──> sending ──> sent
      │                          │                                          │   ↑
      └──────────cancel──────────┴──────────────cancel───────────────> cancelled / paused ──resume
                                                                 failed <── the engine gives up

Edits are allowed only while draft or scheduled (`selectors.scenario_edit_refusal` says why not); after that a
scenario can be paused, resumed, cancelled or have its failed recipients retried, never edited.

Who writes `status`: these services before the send exists (create, schedule, send now, cancel) and for the
operator's own pause and cancel (moved first, so the engine's echo is not taken for an auto-pause); once the send
started, every other move (started, resumed, finished, failed, auto-paused) is `events.on_send_event`'s, driven by
the engine's events. Resume and retry only ask the engine; the scenario follows its `resumed` event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone as dj_timezone

from campaigns import engine as send_engines
from campaigns import selectors
from campaigns.models import Campaign, Emailer, Scenario
from campaigns.services.emailers import emailer_dispatch, emailer_plan, emailer_sync
from contacts.models import Contact
from templates_app import services as template_services
from templates_app.models import MessageTemplate

ScenarioStatus = Scenario.Status


class ScenarioStateError(Exception):
    """The scenario's state does not allow this operation. The API answers 409 with the message."""


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
        scenario.status == ScenarioStatus.SCHEDULED
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
        status=ScenarioStatus.DRAFT if draft else ScenarioStatus.SCHEDULED,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    _validate_scenario(scenario)
    scenario.save()
    emailer_sync(scenario=scenario)
    return scenario


def _lock_editable(scenario_id: int) -> Scenario:
    scenario = Scenario.objects.select_for_update().select_related("campaign").get(pk=scenario_id)
    refusal = selectors.scenario_edit_refusal(scenario=scenario)
    if refusal:
        raise ScenarioStateError(refusal)
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
        locked.status = ScenarioStatus.DRAFT if draft else ScenarioStatus.SCHEDULED
    _validate_scenario(locked)
    locked.save(update_fields=[*changes.keys(), "status", "updated_at"])
    emailer_sync(scenario=locked)
    return locked


@transaction.atomic
def scenario_delete(*, scenario_id: int) -> None:
    """Delete a draft or scheduled scenario (and its unclaimed Emailer); anything later is history."""
    scenario = _lock_editable(scenario_id)
    scenario.delete()


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
        # The one move to `sending` before a Send exists: the operator's "send now" (the API answers `sending`);
        # the engine's `started` then finds it there.
        scenario.status = ScenarioStatus.SENDING
    else:
        if dj_timezone.is_naive(at):
            at = at.replace(tzinfo=zone)
        local = at.astimezone(zone)
        scenario.send_date, scenario.send_time = local.date(), local.time().replace(second=0, microsecond=0)
        scenario.status = ScenarioStatus.SCHEDULED
    _validate_scenario(scenario, now=now)
    scenario.save(update_fields=["send_date", "send_time", "status", "updated_at"])
    if at is not None:
        emailer_sync(scenario=scenario)
        return scenario
    emailer = emailer_plan(scenario=scenario, scheduled_at=now)
    emailer_dispatch(emailer_id=emailer.pk, now=now)
    return scenario


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
    if scenario.status != ScenarioStatus.SENDING:
        raise ScenarioStateError(
            f"Only a sending scenario can be paused; this one is {scenario.get_status_display().lower()}."
        )
    if emailer is None or emailer.send_id is None:
        raise ScenarioStateError("The send is still starting; try again in a second.")
    # Our status moves first, so the engine's `paused` event finds it paused and is not taken for an auto-pause.
    Scenario.objects.filter(pk=scenario.pk, status=ScenarioStatus.SENDING).update(
        status=ScenarioStatus.PAUSED, updated_at=dj_timezone.now()
    )
    send_engines.send_engine().send_pause(send_id=emailer.send_id, reason=reason or f"Paused by {_actor(user)}")
    scenario.refresh_from_db()
    return scenario


def scenario_resume(*, scenario_id: int, user: Any = None) -> Scenario:
    """Ask the engine to go on; the scenario is `sending` again when its `resumed` event arrives (on commit)."""
    with transaction.atomic():
        scenario, emailer = _lock_with_send(scenario_id)
        if scenario.status != ScenarioStatus.PAUSED or emailer is None or emailer.send_id is None:
            raise ScenarioStateError(
                f"Only a paused scenario can be resumed; this one is {scenario.get_status_display().lower()}."
            )
        send_engines.send_engine().send_resume(send_id=emailer.send_id)
    return _fresh(scenario_id)


def scenario_cancel(*, scenario_id: int, user: Any = None) -> Scenario:
    """Stop a scenario for good: before it starts (nothing is sent) or while sending (the rest is not sent)."""
    with transaction.atomic():
        scenario, emailer = _lock_with_send(scenario_id)
        if scenario.status not in (
            ScenarioStatus.DRAFT,
            ScenarioStatus.SCHEDULED,
            ScenarioStatus.SENDING,
            ScenarioStatus.PAUSED,
        ):
            raise ScenarioStateError(f"A {scenario.get_status_display().lower()} scenario cannot be cancelled.")
        now = dj_timezone.now()
        Scenario.objects.filter(pk=scenario.pk, status=scenario.status).update(
            status=ScenarioStatus.CANCELLED, updated_at=now
        )
        send_id = None
        if emailer is not None:
            Emailer.objects.filter(pk=emailer.pk, sent=False).update(active=False, finished_at=now)
            send_id = emailer.send_id
    if send_id is not None:
        # After our commit, not inside it: the engine commits the Send's status, then cancels its queued rows,
        # waiting for pages in flight. Inside our transaction that wait would hold our locks, and the Send row
        # lock we would hold is what those pages need to write their counters: a deadlock.
        send_engines.send_engine().send_cancel(send_id=send_id, reason=f"Cancelled by {_actor(user)}")
    return _fresh(scenario_id)


def _fresh(scenario_id: int) -> Scenario:
    """The scenario as it is now: read after our commit, so the engine's events have had their say."""
    return Scenario.objects.select_related("campaign").get(pk=scenario_id)


def scenario_retry_failed(*, scenario_id: int, user: Any = None) -> Scenario:
    """Queue the failed recipients of a sent, failed or paused scenario again; it is `sending` again when the
    engine's `resumed` event arrives, and closes again on its next `finished`."""
    with transaction.atomic():
        scenario, emailer = _lock_with_send(scenario_id)
        if (
            scenario.status not in (ScenarioStatus.SENT, ScenarioStatus.FAILED, ScenarioStatus.PAUSED)
            or emailer is None
            or emailer.send_id is None
        ):
            raise ScenarioStateError(
                f"Only a sent, failed or paused scenario has failed recipients to retry; this one is "
                f"{scenario.get_status_display().lower()}."
            )
        if send_engines.send_engine().send_retry_failed(send_id=emailer.send_id) == 0:
            raise ScenarioStateError("No failed recipients to retry.")
        # The engine publishes `finished` again when the retried rows are done; reopen the Emailer so it closes again.
        Emailer.objects.filter(pk=emailer.pk).update(active=True, sent=False, finished_at=None)
    return _fresh(scenario_id)


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
