"""Journey template helpers: `{% contact_journeys contact %}` (the contact page's Journeys section: contacts sits
below automations, so its view cannot ask for journeys; the template includes this tag instead) and the words
for a trigger, a goal, a branch condition and a wait."""

from __future__ import annotations

from typing import Any

from django import template

from automations.journey_models import Journey
from automations.journey_selectors import contact_enrollments
from contacts.models import Batch
from segments.models import Segment

register = template.Library()

WEEKDAY_NAMES = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


@register.inclusion_tag("automations/_contact_journeys.html", takes_context=True)
def contact_journeys(context: Any, contact: Any) -> dict[str, Any]:
    return {
        "rows": contact_enrollments(contact_id=contact.pk),
        "contact": contact,
        # Enrolling by hand (the API trigger's enroll) makes sense only into a journey that runs.
        "enrollable": Journey.objects.filter(status__in=[Journey.Status.ACTIVE, Journey.Status.PAUSED]).order_by(
            "name"
        ),
        "can_edit": context.get("can_edit", False),
        "csrf_token": context.get("csrf_token"),
        "next": context["request"].get_full_path() if context.get("request") else "",
    }


@register.filter
def minutes_text(minutes: Any) -> str:
    """2880 -> "2 days", 90 -> "90 minutes", 120 -> "2 hours"."""
    if minutes is None:
        return "no duration"
    minutes = int(minutes)
    for size, unit in ((1440, "day"), (60, "hour")):
        if minutes and minutes % size == 0:
            n = minutes // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@register.filter
def weekdays_text(days: Any) -> str:
    return ", ".join(WEEKDAY_NAMES.get(int(d), str(d)) for d in days or []) or "any day"


def _segment(pk: Any) -> str:
    segment = Segment.objects.filter(pk=pk or 0).first()
    return f"segment “{segment.name}”" if segment else f"segment #{pk} (missing)"


@register.simple_tag
def journey_trigger_text(trigger: Any) -> str:
    trigger = trigger or {}
    kind = trigger.get("type")
    if kind == "event":
        return f"a funnel event to stage “{trigger.get('to_stage', '')}”"
    if kind == "contact_created":
        return "a contact is created"
    if kind == "batch":
        batch = Batch.objects.filter(pk=trigger.get("batch") or 0).first()
        return f"added to batch “{batch.name}”" if batch else f"added to batch #{trigger.get('batch')} (missing)"
    if kind == "segment":
        return f"entering {_segment(trigger.get('segment'))}"
    if kind == "api":
        return "an API call"
    return "no trigger"


@register.simple_tag
def journey_goal_text(goal: Any) -> str:
    if not goal:
        return "none"
    if goal.get("type") == "event":
        return f"a funnel event to stage “{goal.get('to_stage', '')}”"
    if goal.get("type") == "segment":
        return f"being in {_segment(goal.get('segment'))}"
    return str(goal)


@register.simple_tag
def journey_condition_text(condition: Any) -> str:
    if not isinstance(condition, dict) or not condition:
        return "no condition"
    kind = condition.get("type")
    if kind == "segment":
        return f"in {_segment(condition.get('segment'))}"
    if kind == "event":
        return f"had an event to stage “{condition.get('to_stage', '')}” since entering"
    return "matches the rules"


@register.filter
def percent(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


@register.filter
def duration(value: Any) -> str:
    """A timedelta as "2 d 3 h", "3 h 5 min", "42 min", "30 s"."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
