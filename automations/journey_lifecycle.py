"""Writes of a journey's definition and lifecycle (issue 16): create, update, activate, pause, archive, and the
cancel of one enrollment. Part of `automations.journeys`, which re-exports every name.

Editing an active journey: the steps are read at every tick, so a step a contact has not reached yet takes effect
for it; a contact resting on a removed step moves to the step that followed it, due at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone as dj_timezone

from automations.journey_definition import (
    ActivationCheck,
    JourneyStateError,
    _parse_steps,
    _validate_shape,
    journey_activation_check,
)
from automations.journey_models import Enrollment, Journey, JourneySegmentMember, JourneyStep

E = Enrollment.Status
J = Journey.Status


# --- definition ----------------------------------------------------------------------------------------------


def _save_steps(journey: Journey, steps: list[JourneyStep], *, now: dt.datetime) -> None:
    """Replace the journey's steps, keeping rows by key; contacts resting on a removed step move to the one that
    followed it (in the old order), due at once."""
    old = list(journey.steps.order_by("position", "id"))
    new_keys = {s.key for s in steps}
    removed = [s for s in old if s.key not in new_keys]
    for step in removed:
        index = old.index(step)
        successor = next((s.key for s in old[index + 1 :] if s.key in new_keys), "")
        moving = Enrollment.objects.filter(journey=journey, status=E.ACTIVE, step_key=step.key)
        if successor:
            moving.update(step_key=successor, step_ran=False, next_at=now)
        else:
            moving.update(status=E.COMPLETED, finished_at=now, next_at=None, reason=f"step {step.key} removed")
    JourneyStep.objects.filter(journey=journey).exclude(key__in=new_keys).delete()
    existing = {s.key: s for s in journey.steps.all()}
    fields = ["position", "type", "template", "minutes", "time", "weekdays", "condition", "yes_key", "no_key"]
    fields.append("next_key")
    for step in steps:
        step.journey = journey
        current = existing.get(step.key)
        if current is None:
            step.save()
        else:
            step.pk = current.pk
            step.save(update_fields=fields)


@transaction.atomic
def journey_create(
    *,
    name: str,
    trigger: Any,
    steps: Any = (),
    goal: Any = None,
    reentry: str = Journey.Reentry.ONCE,
    resume_mode: str = Journey.ResumeMode.SEND_LATE,
    timezone: str = "",
    description: str = "",
    track_opens: bool = True,
    track_clicks: bool = True,
    user: Any = None,
) -> Journey:
    timezone = timezone or settings.TIME_ZONE
    _validate_shape(name=name, trigger=trigger, goal=goal, reentry=reentry, timezone=timezone)
    _validate_resume_mode(resume_mode)
    parsed = _parse_steps(list(steps))
    journey = Journey.objects.create(
        name=name.strip(),
        description=description or "",
        trigger=trigger,
        goal=goal,
        reentry=reentry,
        resume_mode=resume_mode,
        timezone=timezone,
        track_opens=bool(track_opens),
        track_clicks=bool(track_clicks),
        created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
    )
    _save_steps(journey, parsed, now=dj_timezone.now())
    return journey


JOURNEY_FIELDS = (
    "name",
    "description",
    "trigger",
    "goal",
    "reentry",
    "resume_mode",
    "timezone",
    "track_opens",
    "track_clicks",
)


def _validate_resume_mode(value: str) -> None:
    if value not in Journey.ResumeMode.values:
        raise ValidationError({"resume_mode": [f"One of {', '.join(Journey.ResumeMode.values)}."]})


@transaction.atomic
def journey_update(*, journey: Journey, **changes: Any) -> Journey:
    """Change the definition. An active or paused journey stays runnable: the change is refused when its
    activation check fails."""
    unknown = set(changes) - {*JOURNEY_FIELDS, "steps"}
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    locked = Journey.objects.select_for_update().get(pk=journey.pk)
    if locked.status == J.ARCHIVED:
        raise JourneyStateError("An archived journey cannot be edited.")
    old_trigger = locked.trigger
    for key in JOURNEY_FIELDS:
        if key in changes:
            setattr(locked, key, changes[key])
    if locked.trigger != old_trigger:
        # Another segment (or trigger): its entries are counted afresh from the next check.
        JourneySegmentMember.objects.filter(journey=locked).delete()
        Journey.objects.filter(pk=locked.pk).update(segment_seeded_at=None)
    _validate_shape(
        name=locked.name, trigger=locked.trigger, goal=locked.goal, reentry=locked.reentry, timezone=locked.timezone
    )
    _validate_resume_mode(locked.resume_mode)
    locked.name = locked.name.strip()
    locked.save(update_fields=[k for k in JOURNEY_FIELDS if k in changes] + ["updated_at"])
    if "steps" in changes:
        _save_steps(locked, _parse_steps(changes["steps"]), now=dj_timezone.now())
    if locked.status in (J.ACTIVE, J.PAUSED):
        check = journey_activation_check(journey=locked)
        if check.errors:
            raise ValidationError({"steps": check.errors})
    return locked


# --- lifecycle -----------------------------------------------------------------------------------------------


@transaction.atomic
def journey_activate(*, journey_id: int) -> ActivationCheck:
    """Draft or paused -> active, when the activation check passes (ValidationError with every problem). A resume
    records `resumed_at`: with `resume_mode = skip_to_wait` the engine skips the sends that fell due in between."""
    journey = Journey.objects.select_for_update().get(pk=journey_id)
    if journey.status == J.ACTIVE:
        return ActivationCheck()
    if journey.status == J.ARCHIVED:
        raise JourneyStateError("An archived journey cannot be activated.")
    check = journey_activation_check(journey=journey)
    if check.errors:
        raise ValidationError({"steps": check.errors})
    now = dj_timezone.now()
    if journey.status == J.PAUSED:
        Journey.objects.filter(pk=journey.pk, status=J.PAUSED).update(status=J.ACTIVE, resumed_at=now, updated_at=now)
    else:
        Journey.objects.filter(pk=journey.pk, status=J.DRAFT).update(status=J.ACTIVE, activated_at=now, updated_at=now)
    return check


def journey_pause(*, journey_id: int) -> bool:
    """Hold every enrollment where it is: the tick claims enrollments of active journeys only. On resume what
    fell due meanwhile is sent then (late), once, or skipped up to the next wait (`resume_mode`)."""
    if not Journey.objects.filter(pk=journey_id).exists():
        raise Journey.DoesNotExist
    now = dj_timezone.now()
    changed = Journey.objects.filter(pk=journey_id, status=J.ACTIVE).update(
        status=J.PAUSED, paused_at=now, updated_at=now
    )
    if not changed and Journey.objects.filter(pk=journey_id).exclude(status=J.PAUSED).exists():
        raise JourneyStateError("Only an active journey can be paused.")
    return bool(changed)


@transaction.atomic
def journey_archive(*, journey_id: int) -> int:
    """Stop the journey for good: its active enrollments are cancelled. Returns how many."""
    now = dj_timezone.now()
    if not Journey.objects.filter(pk=journey_id).exclude(status=J.ARCHIVED).update(status=J.ARCHIVED, updated_at=now):
        return 0
    return Enrollment.objects.filter(journey_id=journey_id, status=E.ACTIVE).update(
        status=E.CANCELLED, finished_at=now, next_at=None, reason="journey archived"
    )


def enrollment_cancel(*, enrollment_id: int, reason: str = "cancelled") -> bool:
    """Cancel one contact's enrollment; True if this call changed it (a second call is a no-op)."""
    return bool(
        Enrollment.objects.filter(pk=enrollment_id, status=E.ACTIVE).update(
            status=E.CANCELLED, finished_at=dj_timezone.now(), next_at=None, reason=reason[:300]
        )
    )
