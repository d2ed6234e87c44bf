"""Forms of the journey builder. They turn plain fields into the journey JSON of ARCHITECTURE §5 and back; what
is allowed (a wait above zero, a branch with both paths, a template that passes the pre-send check ...) is decided
by `automations.journeys` alone, whose messages the pages show next to the step they name."""

from __future__ import annotations

import json
import zoneinfo
from typing import Any, cast

from django import forms
from django.conf import settings

from automations.journey_models import Enrollment, Journey, JourneyStep
from contacts.models import Batch
from delivery.forms import track_clicks_field, track_opens_field
from segments.models import Segment
from templates_app.models import MessageTemplate

S = JourneyStep.Type

TRIGGER_CHOICES = [
    ("api", "An API call (POST /journeys/{id}/enroll)"),
    ("event", "A funnel event to a stage"),
    ("contact_created", "A contact is created"),
    ("batch", "A contact is added to a batch"),
    ("segment", "A contact enters a segment"),
]
GOAL_CHOICES = [("", "No goal"), ("event", "A funnel event to a stage"), ("segment", "Being in a segment")]
UNITS = {"minutes": 1, "hours": 60, "days": 1440}
WEEKDAYS = [("1", "Mon"), ("2", "Tue"), ("3", "Wed"), ("4", "Thu"), ("5", "Fri"), ("6", "Sat"), ("7", "Sun")]
CONDITION_CHOICES = [
    ("segment", "The contact is in a segment"),
    ("event", "The contact had a funnel event to a stage (since entering)"),
    ("rules", "Segment rules (JSON)"),
]
KEY_PREFIX: dict[str, str] = {"send": "s", "wait": "w", "wait_until": "t", "branch": "b", "exit": "x"}


def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def _stage_input(list_id: str) -> forms.TextInput:
    return forms.TextInput(attrs={"list": list_id, "placeholder": "e.g. signed_up"})


class JourneyForm(forms.Form):
    """Name, trigger, goal, re-entry and zone: the journey without its steps."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    trigger_type = forms.ChoiceField(choices=TRIGGER_CHOICES, label="Enters when", initial="event")
    trigger_stage = forms.CharField(max_length=100, required=False, label="Stage", widget=_stage_input("stages"))
    trigger_batch = forms.ModelChoiceField(queryset=Batch.objects.order_by("-id"), required=False, label="Batch")
    trigger_segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name"), required=False, label="Segment")
    goal_type = forms.ChoiceField(choices=GOAL_CHOICES, required=False, label="Goal (leaves the journey)")
    goal_stage = forms.CharField(max_length=100, required=False, label="Goal stage", widget=_stage_input("stages"))
    goal_segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), required=False, label="Goal segment"
    )
    reentry = forms.ChoiceField(choices=Journey.Reentry.choices, initial=Journey.Reentry.ONCE, label="Re-entry")
    resume_mode = forms.ChoiceField(
        choices=Journey.ResumeMode.choices,
        initial=Journey.ResumeMode.SEND_LATE,
        label="On resume after a pause",
        help_text="What happens to the steps that fell due while the journey was paused.",
    )
    track_opens = track_opens_field()
    track_clicks = track_clicks_field()
    # A text input with the zones as suggestions (a <datalist> the page lists once): Django renders a <select>
    # of ~600 zones option by option through templates, which made the builder slow.
    timezone = forms.ChoiceField(
        choices=timezone_choices,
        label="Time zone",
        help_text="Wait-until times are read here.",
        widget=forms.TextInput(attrs={"list": "zones", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("timezone", settings.TIME_ZONE)
        super().__init__(*args, **kwargs)

    @staticmethod
    def initial_of(journey: Journey) -> dict[str, Any]:
        trigger = journey.trigger or {}
        goal = journey.goal or {}
        return {
            "name": journey.name,
            "description": journey.description,
            "trigger_type": trigger.get("type", ""),
            "trigger_stage": trigger.get("to_stage", ""),
            "trigger_batch": trigger.get("batch"),
            "trigger_segment": trigger.get("segment"),
            "goal_type": goal.get("type", ""),
            "goal_stage": goal.get("to_stage", ""),
            "goal_segment": goal.get("segment"),
            "reentry": journey.reentry,
            "resume_mode": journey.resume_mode,
            "timezone": journey.timezone,
            "track_opens": journey.track_opens,
            "track_clicks": journey.track_clicks,
        }

    def journey_fields(self) -> dict[str, Any]:
        """The service's keyword arguments (call after is_valid)."""
        data = self.cleaned_data
        kind = data["trigger_type"]
        trigger: dict[str, Any] = {"type": kind}
        if kind == "event":
            trigger["to_stage"] = (data.get("trigger_stage") or "").strip()
        elif kind in ("batch", "segment"):
            chosen = data.get(f"trigger_{kind}")
            trigger[kind] = chosen.pk if chosen else None
        goal: dict[str, Any] | None = None
        if data.get("goal_type") == "event":
            goal = {"type": "event", "to_stage": (data.get("goal_stage") or "").strip()}
        elif data.get("goal_type") == "segment":
            goal = {"type": "segment", "segment": data["goal_segment"].pk if data.get("goal_segment") else None}
        return {
            "name": data["name"],
            "description": data.get("description") or "",
            "trigger": trigger,
            "goal": goal,
            "reentry": data["reentry"],
            "resume_mode": data["resume_mode"],
            "timezone": data["timezone"],
            "track_opens": bool(data.get("track_opens")),
            "track_clicks": bool(data.get("track_clicks")),
        }


def new_key(kind: str, taken: set[str]) -> str:
    prefix = KEY_PREFIX.get(kind, "s")
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


class StepForm(forms.Form):
    """One step; `to_json` gives its ARCHITECTURE §5 object. `keys` are the journey's other steps (the targets
    of a branch's yes / no and of a jump)."""

    type = forms.ChoiceField(choices=S.choices, label="Step")
    key = forms.CharField(
        max_length=40, required=False, label="Key", help_text="Its name in paths and reports; empty: chosen for you."
    )
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.filter(channel=MessageTemplate.Channel.EMAIL).order_by("name"),
        required=False,
        label="Template",
    )
    amount = forms.IntegerField(required=False, label="Wait", initial=1)
    unit = forms.ChoiceField(choices=[(u, u) for u in UNITS], initial="days", label="Unit")
    time = forms.TimeField(
        required=False,
        label="Until",
        input_formats=["%H:%M"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    weekdays = forms.MultipleChoiceField(
        choices=WEEKDAYS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="On",
        help_text="None ticked: any day.",
    )
    condition_kind = forms.ChoiceField(choices=CONDITION_CHOICES, required=False, label="If")
    condition_segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"), required=False, label="Segment"
    )
    condition_stage = forms.CharField(max_length=100, required=False, label="Stage", widget=_stage_input("stages"))
    condition_rules = forms.CharField(
        required=False,
        label="Rules JSON",
        widget=forms.Textarea(attrs={"rows": 3, "class": "font-monospace"}),
        help_text='As a rules segment\'s, e.g. {"all": [{"field": "city", "op": "eq", "value": "Paris"}]}',
    )
    yes = forms.ChoiceField(required=False, label="Yes: go to")
    no = forms.ChoiceField(required=False, label="No: go to")
    next = forms.ChoiceField(required=False, label="Then", help_text="Where the contact goes after this step.")

    def __init__(self, *args: Any, keys: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targets = [(k, k) for k in keys or []]
        for name, empty in (("yes", "—"), ("no", "—"), ("next", "the next step below")):
            cast(forms.ChoiceField, self.fields[name]).choices = [("", empty), *targets]

    @staticmethod
    def initial_of(item: dict[str, Any]) -> dict[str, Any]:
        initial: dict[str, Any] = {"type": item.get("type"), "key": item.get("key"), "next": item.get("next", "")}
        kind = item.get("type")
        if kind == S.SEND:
            initial["template"] = item.get("template")
        elif kind == S.WAIT:
            minutes = item.get("minutes") or 0
            unit = next((u for u in ("days", "hours") if minutes and minutes % UNITS[u] == 0), "minutes")
            initial.update(amount=minutes // UNITS[unit] if minutes else minutes, unit=unit)
        elif kind == S.WAIT_UNTIL:
            initial.update(time=item.get("time"), weekdays=[str(d) for d in item.get("weekdays") or []])
        elif kind == S.BRANCH:
            initial.update(yes=item.get("yes", ""), no=item.get("no", ""))
            condition = item.get("condition") or {}
            ctype = condition.get("type") if isinstance(condition, dict) else None
            if ctype == "segment":
                initial.update(condition_kind="segment", condition_segment=condition.get("segment"))
            elif ctype == "event":
                initial.update(condition_kind="event", condition_stage=condition.get("to_stage", ""))
            elif condition:
                rules = condition.get("rules") if ctype == "rules" else condition
                initial.update(condition_kind="rules", condition_rules=json.dumps(rules, indent=1))
        return initial

    def clean_condition_rules(self) -> Any:
        text = (self.cleaned_data.get("condition_rules") or "").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None

    def to_json(self, *, key: str) -> dict[str, Any]:
        """The step as the API takes it (call after is_valid)."""
        data = self.cleaned_data
        kind = data["type"]
        item: dict[str, Any] = {"key": key, "type": kind}
        if kind == S.SEND:
            item["template"] = data["template"].pk if data.get("template") else None
        elif kind == S.WAIT:
            amount = data.get("amount")
            item["minutes"] = None if amount is None else amount * UNITS[data.get("unit") or "minutes"]
        elif kind == S.WAIT_UNTIL:
            item["time"] = data["time"].strftime("%H:%M") if data.get("time") else None
            item["weekdays"] = sorted(int(d) for d in data.get("weekdays") or [])
        elif kind == S.BRANCH:
            item["condition"] = self._condition()
            item["yes"] = data.get("yes") or ""
            item["no"] = data.get("no") or ""
        if kind not in (S.BRANCH, S.EXIT) and data.get("next"):
            item["next"] = data["next"]
        return item

    def _condition(self) -> Any:
        data = self.cleaned_data
        kind = data.get("condition_kind")
        if kind == "segment":
            return {
                "type": "segment",
                "segment": data["condition_segment"].pk if data.get("condition_segment") else None,
            }
        if kind == "event":
            return {"type": "event", "to_stage": (data.get("condition_stage") or "").strip()}
        if kind == "rules" and data.get("condition_rules") is not None:
            return {"type": "rules", "rules": data["condition_rules"]}
        return None


class EnrollmentFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Every status"), *Enrollment.Status.choices], required=False)


class JourneyFilterForm(forms.Form):
    search = forms.CharField(required=False)
    status = forms.ChoiceField(choices=[("", "Every status"), *Journey.Status.choices], required=False)
