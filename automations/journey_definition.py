"""Journey definitions (issue 16): the steps JSON of ARCHITECTURE §5 both ways, the shape checks of a journey and
its activation check (each message names its step). Part of `automations.journeys`, which re-exports every name."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

from automations.journey_models import Journey, JourneyStep
from contacts.models import Contact, FunnelEvent
from segments.models import Segment
from segments.rules import compile_rules
from templates_app import services as template_services
from templates_app.models import MessageTemplate

S = JourneyStep.Type

TRIGGER_TYPES = ("api", "event", "contact_created", "batch", "segment")
GOAL_TYPES = ("event", "segment")


class JourneyStateError(Exception):
    """The journey's state does not allow this operation (the API answers 409)."""


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
        if not Segment.objects.filter(pk=int(trigger.get("segment") or 0)).exists():
            check.errors.append("Trigger: no such segment.")
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
