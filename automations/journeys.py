"""Writes of journeys (issue 16): definition, lifecycle, enrollment, triggers and the engine the tick runs.

The engine. `journeys_tick` (a SCHEDULER_TICK_HOOKS entry) claims due enrollments in bounded batches
(`next_at <= now`, FOR UPDATE SKIP LOCKED, the partial index on next_at of active rows), checks each claimed
contact's status and the journey's goal in bulk, then walks them in rounds: in a round the enrollments standing on
the same step are handled together (a branch is one query per group, not per contact), each moves to its next
step, and a contact rests at a wait (next_at set) or leaves (exit, end, goal, unsubscribe). A send step of a batch
becomes ONE delivery Send for all its contacts, so suppression, idempotency keys, the rate limiter, pause and
progress are the engine's own.

Exactly once per (enrollment, step visit). Every step a contact takes in a visit writes an EnrollmentStep row,
unique (enrollment, step_key, visit), with INSERT ... ON CONFLICT DO NOTHING; a send step's audience is read back
from the rows THIS insert wrote (`send_id` = the new Send), so an enrollment claimed twice for the same visit
(a retried tick, a stale copy, a bug) is in no second audience. The claim, the walk, the history and the Send's
snapshot commit in one transaction: a worker killed mid-batch rolls all of it back and the next tick redoes it.

Re-entry. `once`: one enrollment per (journey, contact) ever. `after_exit` and `never_while_active`: again once the
previous one has ended; a trigger while one is active is dropped (the partial unique index on active rows holds
this under concurrency). The two names are kept from ARCHITECTURE §5 and behave the same today.

Editing an active journey: the steps are read at every tick, so a step a contact has not reached yet takes effect
for it; a contact resting on a removed step moves to the step that followed it, due at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone as dj_timezone

from automations.journey_models import Enrollment, EnrollmentStep, Journey, JourneyStep
from contacts.models import BatchMember, Contact, FunnelEvent
from delivery import services as delivery_services
from segments.errors import SegmentError
from segments.models import Segment
from segments.rules import compile_rules
from segments.selectors import segment_contact_ids
from templates_app import services as template_services
from templates_app.models import MessageTemplate

logger = logging.getLogger(__name__)

S = JourneyStep.Type
E = Enrollment.Status
J = Journey.Status
O = EnrollmentStep.Outcome  # noqa: E741

TRIGGER_TYPES = ("api", "event", "contact_created", "batch", "segment")
GOAL_TYPES = ("event", "segment")
# A contact takes at most this many steps in one tick; activation refuses loops without a wait, so only a long
# chain of sends and branches gets near it.
MAX_HOPS = 50
DEFAULT_BATCH = 500
DEFAULT_BUDGET_SECONDS = 0.5


class JourneyStateError(Exception):
    """The journey's state does not allow this operation (the API answers 409)."""


def _engine() -> Any:
    return delivery_services


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {name!r}.") from None


# --- definition ----------------------------------------------------------------------------------------------


def _parse_time(value: Any) -> dt.time | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day (HH:MM).") from None


def _step_from_json(index: int, data: Any, templates: dict[int, MessageTemplate]) -> JourneyStep:
    """One step of ARCHITECTURE §5's JSON as an unsaved row. Shape errors raise ValueError naming the step."""
    if not isinstance(data, dict):
        raise ValueError(f"Step {index + 1} is not an object.")
    key = str(data.get("key") or "").strip()
    name = f"Step {key or index + 1}"
    if not key or len(key) > 40:
        raise ValueError(f"{name}: a key of 1 to 40 characters is required.")
    kind = data.get("type")
    if kind not in S.values:
        raise ValueError(f"{name}: unknown type {kind!r} (one of {', '.join(S.values)}).")
    step = JourneyStep(key=key, position=index, type=kind, next_key=str(data.get("next") or ""))
    if kind == S.SEND:
        template_id = data.get("template")
        if template_id not in (None, ""):
            if not str(template_id).isdigit() or int(template_id) not in templates:
                raise ValueError(f"{name}: no template {template_id}.")
            step.template = templates[int(template_id)]
    elif kind == S.WAIT:
        minutes = data.get("minutes")
        if minutes is None and any(k in data for k in ("hours", "days")):
            minutes = int(data.get("hours") or 0) * 60 + int(data.get("days") or 0) * 1440
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int)):
            raise ValueError(f"{name}: minutes is a whole number.")
        step.minutes = minutes
    elif kind == S.WAIT_UNTIL:
        try:
            step.time = _parse_time(data.get("time"))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        weekdays = data.get("weekdays") or []
        if not isinstance(weekdays, list) or any(not isinstance(d, int) or not 1 <= d <= 7 for d in weekdays):
            raise ValueError(f"{name}: weekdays are numbers 1 (Monday) to 7 (Sunday).")
        step.weekdays = sorted(set(weekdays))
    elif kind == S.BRANCH:
        step.condition = data.get("condition")
        step.yes_key = str(data.get("yes") or "")
        step.no_key = str(data.get("no") or "")
    return step


def steps_to_json(journey: Journey) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for step in journey.steps.all():
        item: dict[str, Any] = {"key": step.key, "type": step.type}
        if step.type == S.SEND:
            item["template"] = step.template_id
        elif step.type == S.WAIT:
            item["minutes"] = step.minutes
        elif step.type == S.WAIT_UNTIL:
            item["time"] = step.time.strftime("%H:%M") if step.time else None
            item["weekdays"] = step.weekdays
        elif step.type == S.BRANCH:
            item.update(condition=step.condition, yes=step.yes_key, no=step.no_key)
        if step.next_key:
            item["next"] = step.next_key
        out.append(item)
    return out


def _parse_steps(data: Any) -> list[JourneyStep]:
    if not isinstance(data, list):
        raise ValidationError({"steps": ["A list of steps."]})
    ids = {int(s["template"]) for s in data if isinstance(s, dict) and str(s.get("template") or "").isdigit()}
    templates = MessageTemplate.objects.in_bulk(ids)
    steps: list[JourneyStep] = []
    errors: list[str] = []
    for index, item in enumerate(data):
        try:
            steps.append(_step_from_json(index, item, templates))
        except ValueError as exc:
            errors.append(str(exc))
    keys = [s.key for s in steps]
    errors += [f"Step {k}: the key is used twice." for k in sorted({k for k in keys if keys.count(k) > 1})]
    if errors:
        raise ValidationError({"steps": errors})
    return steps


def _validate_shape(*, name: str, trigger: Any, goal: Any, reentry: str, timezone: str) -> None:
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = ["Give the journey a name."]
    if not isinstance(trigger, dict) or trigger.get("type") not in TRIGGER_TYPES:
        errors["trigger"] = [f"A trigger is an object with a type: {', '.join(TRIGGER_TYPES)}."]
    elif trigger["type"] == "event" and not str(trigger.get("to_stage") or "").strip():
        errors["trigger"] = ["An event trigger needs a to_stage."]
    elif trigger["type"] in ("batch", "segment") and not str(trigger.get(trigger["type"]) or "").isdigit():
        errors["trigger"] = [f"A {trigger['type']} trigger needs the {trigger['type']} id."]
    if goal is not None and (not isinstance(goal, dict) or goal.get("type") not in GOAL_TYPES):
        errors["goal"] = ["A goal is null or an object with a type: event or segment."]
    elif goal and goal["type"] == "event" and not str(goal.get("to_stage") or "").strip():
        errors["goal"] = ["An event goal needs a to_stage."]
    elif goal and goal["type"] == "segment" and not Segment.objects.filter(pk=goal.get("segment") or 0).exists():
        errors["goal"] = ["No such segment."]
    if reentry not in Journey.Reentry.values:
        errors["reentry"] = [f"One of {', '.join(Journey.Reentry.values)}."]
    try:
        _zone(timezone)
    except ValueError as exc:
        errors["timezone"] = [str(exc)]
    if errors:
        raise ValidationError(errors)


def _following(steps: Sequence[JourneyStep], index: int) -> str:
    return steps[index + 1].key if index + 1 < len(steps) else ""


def _edges(steps: Sequence[JourneyStep]) -> dict[str, list[str]]:
    """Where each step can go next ("" = the end of the journey)."""
    out: dict[str, list[str]] = {}
    for index, step in enumerate(steps):
        if step.type == S.EXIT:
            out[step.key] = []
        elif step.type == S.BRANCH:
            out[step.key] = [k for k in (step.yes_key, step.no_key) if k]
        else:
            out[step.key] = [step.next_key or _following(steps, index)]
    return out


def _loop_without_wait(steps: Sequence[JourneyStep]) -> list[str]:
    """A cycle through steps none of which waits (it would spin within one tick), or []."""
    waits = {s.key for s in steps if s.type in (S.WAIT, S.WAIT_UNTIL)}
    edges = {k: [t for t in v if t and t not in waits] for k, v in _edges(steps).items() if k not in waits}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(key: str) -> list[str]:
        state[key] = 1
        path.append(key)
        for target in edges.get(key, []):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[key] = 2
        path.pop()
        return []

    for key in edges:
        if key not in state:
            found = visit(key)
            if found:
                return found
    return []


def _template_problems(template: MessageTemplate) -> list[str]:
    if template.channel != MessageTemplate.Channel.EMAIL:
        return ["only email templates can be sent by a journey"]
    audience = Contact.objects.filter(status=Contact.Status.SUBSCRIBED).values_list("id", flat=True)
    report = template_services.template_check(template=template, audience_ids=audience)
    if not report.compiles:
        return [report.error]
    problems = [p for p in report.problems if "is empty for" not in p]
    # A journey sends by itself, as an automation does: its email must carry the unsubscribe link.
    if not report.has_unsubscribe:
        problems.append("no {{ unsubscribe_url }} link")
    return problems


@dataclass
class ActivationCheck:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def journey_activation_check(*, journey: Journey) -> ActivationCheck:
    """Why the journey cannot run (each message names its step), and what is merely suspicious."""
    check = ActivationCheck()
    steps = list(journey.steps.select_related("template"))
    keys = {s.key for s in steps}
    if not any(s.type == S.SEND for s in steps):
        check.errors.append("The journey has no send step.")
    for step in steps:
        name = f"Step {step.key}"
        if step.next_key and step.next_key not in keys:
            check.errors.append(f"{name}: next step {step.next_key!r} does not exist.")
        if step.type == S.SEND:
            if step.template is None:
                check.errors.append(f"{name}: choose a template.")
            else:
                check.errors += [f"{name}: template “{step.template}”: {p}" for p in _template_problems(step.template)]
        elif step.type == S.WAIT and (step.minutes is None or step.minutes <= 0):
            check.errors.append(f"{name}: a wait must be more than 0 minutes.")
        elif step.type == S.WAIT_UNTIL and step.time is None:
            check.errors.append(f"{name}: choose the time of day to wait until.")
        elif step.type == S.BRANCH:
            if not step.yes_key or not step.no_key:
                check.errors.append(f"{name}: a branch needs a yes path and a no path.")
            for target in (step.yes_key, step.no_key):
                if target and target not in keys:
                    check.errors.append(f"{name}: path to {target!r}, which does not exist.")
            problem = _condition_problem(step.condition)
            if problem:
                check.errors.append(f"{name}: {problem}")
    loop = _loop_without_wait(steps)
    if loop:
        check.errors.append(f"Steps {' → '.join(loop)}: a loop with no wait in it.")
    trigger = journey.trigger or {}
    if trigger.get("type") == "segment":
        check.errors.append("Trigger: entering a segment is not available yet; use an event, contact or batch trigger.")
    elif trigger.get("type") == "event" and not FunnelEvent.objects.filter(to_stage=trigger.get("to_stage")).exists():
        check.warnings.append(f"Trigger: no contact has ever had an event to stage “{trigger.get('to_stage')}”.")
    return check


def _condition_problem(condition: Any) -> str:
    if not isinstance(condition, dict) or not condition:
        return "a branch needs a condition."
    kind = condition.get("type")
    if kind == "event":
        return "" if str(condition.get("to_stage") or "").strip() else "an event condition needs a to_stage."
    if kind == "segment":
        return "" if Segment.objects.filter(pk=condition.get("segment") or 0).exists() else "no such segment."
    try:
        compile_rules(condition.get("rules") if kind == "rules" else condition)
    except Exception as exc:  # the rules compiler's own messages (ValueError, SegmentError, ...)
        return f"the rules do not compile: {exc}"
    return ""


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
    timezone: str = "",
    description: str = "",
    user: Any = None,
) -> Journey:
    timezone = timezone or settings.TIME_ZONE
    _validate_shape(name=name, trigger=trigger, goal=goal, reentry=reentry, timezone=timezone)
    parsed = _parse_steps(list(steps))
    journey = Journey.objects.create(
        name=name.strip(),
        description=description or "",
        trigger=trigger,
        goal=goal,
        reentry=reentry,
        timezone=timezone,
        created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
    )
    _save_steps(journey, parsed, now=dj_timezone.now())
    return journey


JOURNEY_FIELDS = ("name", "description", "trigger", "goal", "reentry", "timezone")


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
    for key in JOURNEY_FIELDS:
        if key in changes:
            setattr(locked, key, changes[key])
    _validate_shape(
        name=locked.name, trigger=locked.trigger, goal=locked.goal, reentry=locked.reentry, timezone=locked.timezone
    )
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
    """Draft or paused -> active, when the activation check passes (ValidationError with every problem)."""
    journey = Journey.objects.select_for_update().get(pk=journey_id)
    if journey.status == J.ACTIVE:
        return ActivationCheck()
    if journey.status == J.ARCHIVED:
        raise JourneyStateError("An archived journey cannot be activated.")
    check = journey_activation_check(journey=journey)
    if check.errors:
        raise ValidationError({"steps": check.errors})
    Journey.objects.filter(pk=journey.pk, status__in=[J.DRAFT, J.PAUSED]).update(
        status=J.ACTIVE, activated_at=dj_timezone.now(), updated_at=dj_timezone.now()
    )
    return check


def journey_pause(*, journey_id: int) -> bool:
    """Hold every enrollment where it is: the tick claims enrollments of active journeys only. On resume what
    fell due meanwhile is sent then (late), once."""
    if not Journey.objects.filter(pk=journey_id).exists():
        raise Journey.DoesNotExist
    changed = Journey.objects.filter(pk=journey_id, status=J.ACTIVE).update(
        status=J.PAUSED, updated_at=dj_timezone.now()
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


# --- enrollment ------------------------------------------------------------------------------------------------


def _first_key(journey: Journey) -> str:
    return str(journey.steps.order_by("position", "id").values_list("key", flat=True).first() or "")


def _enroll_rows(journey: Journey, rows: Sequence[tuple[int, str]], *, now: dt.datetime) -> set[int]:
    """Enroll (contact_id, trigger_key) rows that the re-entry policy lets in; returns the contact ids enrolled.
    ON CONFLICT DO NOTHING on the two partial unique indexes settles races with another trigger."""
    first = _first_key(journey)
    enrolled: set[int] = set()
    for start in range(0, len(rows), 5000):
        chunk = rows[start : start + 5000]
        ids = {contact_id for contact_id, _ in chunk}
        subscribed = set(
            Contact.objects.filter(pk__in=ids, status=Contact.Status.SUBSCRIBED).values_list("id", flat=True)
        )
        blocked = Enrollment.objects.filter(journey=journey, contact_id__in=ids)
        if journey.reentry != Journey.Reentry.ONCE:
            blocked = blocked.filter(status=E.ACTIVE)
        allowed = subscribed - set(blocked.values_list("contact_id", flat=True))
        objs: dict[int, Enrollment] = {}
        for contact_id, key in chunk:
            if contact_id in allowed and contact_id not in objs:
                objs[contact_id] = Enrollment(
                    journey=journey,
                    contact_id=contact_id,
                    step_key=first,
                    visit=1,
                    next_at=now,
                    entered_at=now,
                    trigger_key=key,
                )
        Enrollment.objects.bulk_create(list(objs.values()), ignore_conflicts=True, batch_size=1000)
        enrolled |= set(
            Enrollment.objects.filter(
                journey=journey, contact_id__in=list(objs), entered_at=now, status=E.ACTIVE
            ).values_list("contact_id", flat=True)
        )
    return enrolled


def journey_enroll(
    *, journey_id: int, contact_ids: Sequence[Any] = (), emails: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """The API trigger: one result per item (contact ids first, then emails): enrolled, skipped (with why), or
    error (unknown contact). The rest go in."""
    journey = Journey.objects.get(pk=journey_id)
    if journey.status not in (J.ACTIVE, J.PAUSED):
        raise JourneyStateError("Activate the journey before enrolling contacts.")
    now = dj_timezone.now()
    results: list[dict[str, Any]] = []
    wanted_ids = [int(i) for i in contact_ids if str(i).isdigit()]
    by_id = dict(Contact.objects.filter(pk__in=wanted_ids).values_list("id", "status"))
    lowered = [str(e).strip().lower() for e in emails]
    by_email = {
        email.lower(): (pk, status)
        for pk, email, status in Contact.objects.filter(email__in=[e for e in lowered if e]).values_list(
            "id", "email", "status"
        )
    }
    for raw in contact_ids:
        found = int(raw) in by_id if str(raw).isdigit() else False
        results.append(
            {"contact_id": int(raw) if found else raw, "email": None, "status": "pending" if found else "error"}
            | ({} if found else {"error": "No contact with this id."})
        )
    for raw, email in zip(emails, lowered, strict=True):
        pk, _ = by_email.get(email, (None, None))
        results.append(
            {"contact_id": pk, "email": raw, "status": "pending" if pk else "error"}
            | ({} if pk else {"error": "No contact with this email."})
        )
    pending = [r["contact_id"] for r in results if r["status"] == "pending"]
    with transaction.atomic():
        enrolled = _enroll_rows(journey, [(pk, "") for pk in pending], now=now)
    statuses = by_id | {pk: status for pk, status in by_email.values()}
    for result in results:
        if result["status"] != "pending":
            continue
        pk = result["contact_id"]
        if pk in enrolled:
            result["status"] = "enrolled"
            enrolled.discard(pk)  # a contact listed twice is enrolled once
        elif statuses.get(pk) != Contact.Status.SUBSCRIBED:
            result.update(status="skipped", error=f"The contact is {statuses.get(pk)}.")
        else:
            result.update(status="skipped", error=_reentry_reason(journey))
    return results


def _reentry_reason(journey: Journey) -> str:
    if journey.reentry == Journey.Reentry.ONCE:
        return "Already enrolled once (re-entry: once)."
    return "Already in this journey."


# --- triggers ------------------------------------------------------------------------------------------------


def journeys_on_new_rows(*, after: Mapping[str, int]) -> int:
    """The CONTACT_EVENT_HOOKS hook (contacts.services calls it after commit): contacts, funnel events and batch
    members with an id above `after[...]` were just written by some path (form, API, CSV import). Every active
    journey they trigger enrolls them; trigger keys make a row seen by two hooks enroll once."""
    journeys = list(Journey.objects.filter(status=J.ACTIVE).exclude(trigger__type="api"))
    if not journeys:
        return 0
    now = dj_timezone.now()
    total = 0
    for journey in journeys:
        trigger = journey.trigger or {}
        kind = trigger.get("type")
        rows: list[tuple[int, str]] = []
        if kind == "contact_created" and "contact" in after:
            rows = [
                (pk, f"contact:{pk}")
                for pk in Contact.objects.filter(pk__gt=after["contact"]).values_list("id", flat=True)
            ]
        elif kind == "event" and "funnel_event" in after:
            events = FunnelEvent.objects.filter(pk__gt=after["funnel_event"], to_stage=trigger.get("to_stage"))
            rows = [(contact_id, f"event:{pk}") for pk, contact_id in events.values_list("id", "contact_id")]
        elif kind == "batch" and "batch_member" in after:
            members = BatchMember.objects.filter(pk__gt=after["batch_member"], batch_id=int(trigger.get("batch") or 0))
            rows = [(contact_id, f"member:{pk}") for pk, contact_id in members.values_list("id", "contact_id")]
        if rows:
            with transaction.atomic():
                total += len(_enroll_rows(journey, rows, now=now))
    return total


# --- the engine ---------------------------------------------------------------------------------------------------


def next_time_of_day(*, after: dt.datetime, at: dt.time, weekdays: Sequence[int], zone: ZoneInfo) -> dt.datetime:
    """The first `at` (wall clock in `zone`) strictly after `after`, on one of `weekdays` (ISO; empty = any)."""
    local = after.astimezone(zone)
    for add in range(8):
        day = local.date() + dt.timedelta(days=add)
        if weekdays and day.isoweekday() not in weekdays:
            continue
        candidate = dt.datetime.combine(day, at, tzinfo=zone)
        if candidate > local:
            return candidate.astimezone(dt.UTC)
    raise ValueError("no matching weekday")  # unreachable with 1..7 validated


@dataclass
class _Walk:
    now: dt.datetime
    steps: dict[int, dict[str, JourneyStep]]
    order: dict[int, list[str]]
    history: list[EnrollmentStep] = field(default_factory=list)
    sends: dict[tuple[int, str], list[tuple[Enrollment, int]]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def after(self, e: Enrollment, step: JourneyStep) -> str:
        if step.next_key:
            return step.next_key
        keys = self.order[e.journey_id]
        index = keys.index(step.key)
        return keys[index + 1] if index + 1 < len(keys) else ""

    def note(self, e: Enrollment, outcome: str, detail: str = "") -> None:
        self.history.append(
            EnrollmentStep(
                enrollment_id=e.pk,
                step_key=e.step_key,
                visit=e.visit,
                ran_at=self.now,
                outcome=outcome,
                detail=detail[:300],
            )
        )

    def finish(self, e: Enrollment, status: str, reason: str = "") -> None:
        e.status, e.reason, e.finished_at, e.next_at = status, reason[:300], self.now, None
        self.counts[status] += 1

    def move(self, e: Enrollment, key: str) -> bool:
        """To step `key` (a new visit); False when that is the end of the journey."""
        if not key:
            self.finish(e, E.COMPLETED)
            return False
        e.step_key, e.visit, e.step_ran = key, e.visit + 1, False
        return True


def _exit_contacts(walk: _Walk, claimed: list[Enrollment], journeys: dict[int, Journey]) -> list[Enrollment]:
    """Unsubscribed, bounced or complained contacts leave; so do contacts that reached the goal since entry."""
    ids = [e.pk for e in claimed]
    statuses = dict(
        Enrollment.objects.filter(pk__in=ids)
        .exclude(contact__status=Contact.Status.SUBSCRIBED)
        .values_list("pk", "contact__status")
    )
    reached: set[int] = set()
    for journey_id, journey in journeys.items():
        goal = journey.goal or {}
        mine = [e.pk for e in claimed if e.journey_id == journey_id]
        if goal.get("type") == "event":
            reached |= set(
                Enrollment.objects.filter(pk__in=mine)
                .filter(
                    Exists(
                        FunnelEvent.objects.filter(
                            contact_id=OuterRef("contact_id"),
                            to_stage=goal.get("to_stage"),
                            created_at__gte=OuterRef("entered_at"),
                        )
                    )
                )
                .values_list("pk", flat=True)
            )
        elif goal.get("type") == "segment":
            segment = Segment.objects.filter(pk=goal.get("segment") or 0).first()
            try:
                if segment is not None:
                    members = segment_contact_ids(segment=segment)
                    reached |= set(
                        Enrollment.objects.filter(pk__in=mine, contact_id__in=members).values_list("pk", flat=True)
                    )
            except SegmentError:
                logger.exception("journey %s: its goal segment cannot be evaluated", journey_id)
    staying: list[Enrollment] = []
    for e in claimed:
        if e.pk in statuses:
            walk.finish(e, E.EXITED_UNSUBSCRIBED, f"contact {statuses[e.pk]}")
        elif e.pk in reached:
            walk.finish(e, E.EXITED_GOAL, "goal reached")
        else:
            staying.append(e)
    return staying


def _branch_yes(step: JourneyStep, group: list[Enrollment]) -> set[int]:
    """The enrollments of `group` whose contact meets the branch condition (one query for the group)."""
    condition = step.condition or {}
    kind = condition.get("type")
    contact_ids = [e.contact_id for e in group]
    if kind == "event":
        latest = dict(
            FunnelEvent.objects.filter(contact_id__in=contact_ids, to_stage=condition.get("to_stage"))
            .values("contact_id")
            .annotate(at=Max("created_at"))
            .values_list("contact_id", "at")
        )
        return {e.pk for e in group if e.contact_id in latest and latest[e.contact_id] >= e.entered_at}
    contacts = Contact.objects.filter(pk__in=contact_ids)
    if kind == "segment":
        segment = Segment.objects.get(pk=int(condition.get("segment") or 0))
        contacts = contacts.filter(pk__in=segment_contact_ids(segment=segment))
    else:
        contacts = contacts.filter(compile_rules(condition.get("rules") if kind == "rules" else condition))
    yes = set(contacts.values_list("id", flat=True))
    return {e.pk for e in group if e.contact_id in yes}


def _walk_round(walk: _Walk, pending: list[Enrollment]) -> list[Enrollment]:
    groups: dict[tuple[int, str], list[Enrollment]] = defaultdict(list)
    for e in pending:
        groups[(e.journey_id, e.step_key)].append(e)
    moved: list[Enrollment] = []
    for (journey_id, key), group in groups.items():
        step = walk.steps[journey_id].get(key)
        if step is None:
            for e in group:
                walk.finish(e, E.FAILED, f"step {key!r} does not exist")
            continue
        if step.type == S.SEND:
            for e in group:
                walk.sends[(journey_id, key)].append((e, e.visit))
                if walk.move(e, walk.after(e, step)):
                    moved.append(e)
        elif step.type in (S.WAIT, S.WAIT_UNTIL):
            for e in group:
                if step.type == S.WAIT:
                    e.next_at = walk.now + dt.timedelta(minutes=max(int(step.minutes or 0), 1))
                else:
                    zone = _zone(step.journey.timezone)
                    e.next_at = next_time_of_day(
                        after=walk.now, at=step.time or dt.time(0), weekdays=step.weekdays, zone=zone
                    )
                e.step_ran = True
                walk.note(e, O.WAITING, f"until {e.next_at:%Y-%m-%d %H:%M %Z}")
        elif step.type == S.BRANCH:
            try:
                yes = _branch_yes(step, group)
            except (SegmentError, Segment.DoesNotExist, ValueError) as exc:
                for e in group:
                    walk.finish(e, E.FAILED, f"step {key}: the condition cannot be evaluated: {exc}")
                continue
            for e in group:
                taken = e.pk in yes
                walk.note(e, O.YES if taken else O.NO)
                if walk.move(e, step.yes_key if taken else step.no_key):
                    moved.append(e)
        else:  # exit
            for e in group:
                walk.note(e, O.EXITED)
                walk.finish(e, E.COMPLETED, f"exit at {key}")
    return moved


def _hand_sends(walk: _Walk, journeys: dict[int, Journey]) -> int:
    """One Send per (journey, step) of the batch; its audience is exactly the history rows this INSERT wrote."""
    handed = 0
    for (journey_id, key), items in walk.sends.items():
        step = walk.steps[journey_id][key]
        template = step.template
        if template is None:
            for e, _ in items:
                walk.finish(e, E.FAILED, f"step {key}: no template")
            continue
        send = _engine().send_create(
            label=f"Journey: {journeys[journey_id].name} · {key}"[:200],
            subject=template.subject,
            template_id=template.pk,
        )
        EnrollmentStep.objects.bulk_create(
            [
                EnrollmentStep(
                    enrollment_id=e.pk, step_key=key, visit=visit, ran_at=walk.now, outcome=O.SENT, send=send
                )
                for e, visit in items
            ],
            ignore_conflicts=True,
        )
        audience = EnrollmentStep.objects.filter(send_id=send.pk).values_list("enrollment__contact_id", flat=True)
        handed += _engine().send_start(send_id=send.pk, audience=audience)
    return handed


def _claim(now: dt.datetime, limit: int) -> list[Enrollment]:
    return list(
        Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=E.ACTIVE, next_at__lte=now, journey__status=J.ACTIVE)
        .order_by("next_at")[:limit]
    )


def journeys_advance(*, now: dt.datetime | None = None, limit: int = DEFAULT_BATCH) -> dict[str, int]:
    """Claim one batch of due enrollments and advance each as far as it goes now, in one transaction."""
    now = now or dj_timezone.now()
    with transaction.atomic():
        claimed = _claim(now, limit)
        if not claimed:
            return {"claimed": 0}
        journey_ids = {e.journey_id for e in claimed}
        journeys = Journey.objects.in_bulk(journey_ids)
        steps: dict[int, dict[str, JourneyStep]] = defaultdict(dict)
        order: dict[int, list[str]] = defaultdict(list)
        for step in JourneyStep.objects.filter(journey_id__in=journey_ids).select_related("template", "journey"):
            steps[step.journey_id][step.key] = step
        for journey_id, by_key in steps.items():
            order[journey_id] = [s.key for s in sorted(by_key.values(), key=lambda s: (s.position, s.pk))]
        walk = _Walk(now=now, steps=steps, order=order)
        pending = []
        for e in _exit_contacts(walk, claimed, journeys):
            current = steps[e.journey_id].get(e.step_key)
            # A contact rests only on a wait it has started: now that the wait is over it moves on. Any other
            # step (a new enrollment's first step, a step edited in) runs now.
            if e.step_ran and current is not None and current.type in (S.WAIT, S.WAIT_UNTIL):
                if walk.move(e, walk.after(e, current)):
                    pending.append(e)
            else:
                if e.step_ran:  # the step was edited from a wait into something else: run it in a new visit
                    e.visit, e.step_ran = e.visit + 1, False
                pending.append(e)
        for _ in range(MAX_HOPS):
            if not pending:
                break
            pending = _walk_round(walk, pending)
        for e in pending:
            walk.finish(e, E.FAILED, f"more than {MAX_HOPS} steps without a wait")
        handed = _hand_sends(walk, journeys)
        EnrollmentStep.objects.bulk_create(walk.history, ignore_conflicts=True, batch_size=1000)
        Enrollment.objects.bulk_update(
            claimed, ["step_key", "visit", "step_ran", "next_at", "status", "reason", "finished_at"], batch_size=1000
        )
    return {"claimed": len(claimed), "handed": handed, **walk.counts}


def journeys_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The SCHEDULER_TICK_HOOKS hook: advance due enrollments, batch after batch, within a time budget so the rest
    of the tick stays on time; what is left is claimed by the next tick."""
    now = now or dj_timezone.now()
    limit = int(getattr(settings, "JOURNEY_TICK_BATCH", DEFAULT_BATCH))
    budget = float(getattr(settings, "JOURNEY_TICK_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS))
    started = time.monotonic()
    claimed = handed = 0
    while True:
        result = journeys_advance(now=now, limit=limit)
        claimed += result["claimed"]
        handed += result.get("handed", 0)
        if result["claimed"] < limit or time.monotonic() - started > budget:
            break
    return {"journey_enrollments": claimed, "journey_emails": handed}
