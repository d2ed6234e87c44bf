"""Forms of the automation pages. They validate input; the rules (cron, zone, template check) live in
`automations.services` and their ValidationError messages are shown on the fields they name."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import QueryDict

from automations import cron as cronlib
from automations.models import Automation
from automations.selectors import ACTIVE, PAUSED
from delivery.forms import track_clicks_field, track_opens_field
from segments.models import Segment
from templates_app.models import MessageTemplate

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
BUILDER_FIELDS = ("mode", "every_minutes", "every_hours", "at_minute", "at_time", "weekdays", "month_day", "months")


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError on the form: per field where the form has it, else at the top."""
    if hasattr(error, "error_dict"):
        for name, messages in error.message_dict.items():
            form.add_error(name if name in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class CronBuilderForm(forms.Form):
    """The schedule builder: a shape (every N minutes ... monthly on day N) that fills `cron`, and back."""

    mode = forms.ChoiceField(choices=cronlib.MODE_CHOICES, initial=cronlib.DAILY, label="Repeat")
    every_minutes = forms.IntegerField(min_value=1, max_value=59, initial=15, required=False, label="Every N minutes")
    every_hours = forms.IntegerField(min_value=1, max_value=23, initial=1, required=False, label="Every N hours")
    at_minute = forms.IntegerField(min_value=0, max_value=59, initial=0, required=False, label="At minute")
    at_time = forms.TimeField(
        initial=dt.time(9, 0),
        required=False,
        label="At",
        input_formats=["%H:%M"],
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    weekdays = forms.MultipleChoiceField(
        choices=cronlib.WEEKDAY_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, label="On"
    )
    month_day = forms.IntegerField(min_value=1, max_value=31, initial=1, required=False, label="On day")
    months = forms.MultipleChoiceField(
        choices=cronlib.MONTH_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only in",
        help_text="None ticked: every month.",
    )
    cron = forms.CharField(
        max_length=100,
        required=False,
        label="Cron expression",
        help_text="minute hour day-of-month month day-of-week",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "font-monospace"}),
    )

    def schedule(self) -> cronlib.Schedule | None:
        """The builder's fields as a Schedule (None when they do not validate)."""
        if not self.is_valid():
            return None
        data = self.cleaned_data
        at: dt.time = data.get("at_time") or dt.time(9, 0)
        mode = data["mode"]
        return cronlib.Schedule(
            mode=mode,
            every=(data.get("every_minutes") if mode == cronlib.MINUTES else data.get("every_hours")) or 1,
            minute=at.minute if mode not in (cronlib.HOURS,) else (data.get("at_minute") or 0),
            hour=at.hour,
            weekdays=[int(d) for d in data.get("weekdays") or []],
            month_day=data.get("month_day") or 1,
            months=[int(m) for m in data.get("months") or []],
            expression=data.get("cron") or "",
        )

    def built_expression(self) -> str:
        schedule = self.schedule()
        return cronlib.build(schedule) if schedule is not None else ""

    @staticmethod
    def initial_for(expression: str) -> dict[str, Any]:
        """Expression -> the builder's initial values (mode `custom` when the builder cannot show it)."""
        schedule = cronlib.parse(expression)
        initial: dict[str, Any] = {"mode": schedule.mode, "cron": schedule.expression}
        if schedule.mode == cronlib.CUSTOM:
            return initial
        if schedule.mode == cronlib.MINUTES:
            initial["every_minutes"] = schedule.every
        elif schedule.mode == cronlib.HOURS:
            initial["every_hours"] = schedule.every
            initial["at_minute"] = schedule.minute
        else:
            initial["at_time"] = dt.time(schedule.hour, schedule.minute)
        initial["weekdays"] = [str(d) for d in schedule.weekdays]
        if schedule.mode == cronlib.MONTHLY:
            initial["month_day"] = schedule.month_day
        initial["months"] = [str(m) for m in schedule.months]
        return initial


def builder_data(data: QueryDict, *, source: str) -> tuple[QueryDict, str]:
    """The schedule part of a posted form after one side changed: `builder` fills the expression from the
    builder's fields; `expression` pre-fills the builder from the expression (kept as typed).
    Returns the new data and the expression to preview."""
    data = data.copy()
    if source == "expression":
        text = data.get("cron", "")
        initial = CronBuilderForm.initial_for(text)
        for name in BUILDER_FIELDS:
            if name in ("weekdays", "months"):
                data.setlist(name, initial.get(name, []) if initial["mode"] != cronlib.CUSTOM else data.getlist(name))
            elif name in initial:
                value = initial[name]
                data[name] = value.strftime("%H:%M") if isinstance(value, dt.time) else str(value)
        if initial["mode"] == cronlib.CUSTOM:
            data["mode"] = cronlib.CUSTOM
        return data, text
    builder = CronBuilderForm(data)
    if data.get("mode") != cronlib.CUSTOM:
        expression = builder.built_expression()
        if expression:
            data["cron"] = expression
    return data, data.get("cron", "")


class AutomationForm(CronBuilderForm):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name", "id"), label="Customer segment")
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.order_by("name", "id"),
        label="Message template",
        help_text="Email templates only: WhatsApp sending is not available yet.",
    )
    timezone = forms.ChoiceField(choices=cronlib.timezone_choices, help_text="The schedule is read in this zone.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active (runs on its schedule)")
    start_date = forms.DateField(widget=DATE_INPUT, required=False, help_text="Optional: no run before this day.")
    end_date = forms.DateField(widget=DATE_INPUT, required=False, help_text="Optional: no run after this day.")
    track_opens = track_opens_field()
    track_clicks = track_clicks_field()

    field_order = [
        "name",
        "description",
        "segment",
        "template",
        "timezone",
        "is_active",
        "start_date",
        "end_date",
        "track_opens",
        "track_clicks",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("timezone", settings.TIME_ZONE)
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # The expression is the truth; an empty one is filled from the builder (a browser without htmx).
        if not (data.get("cron") or "").strip() and data.get("mode") != cronlib.CUSTOM:
            data["cron"] = self.built_expression()
        if not (data.get("cron") or "").strip():
            self.add_error("cron", "Choose a schedule or type a cron expression.")
        return data

    def service_kwargs(self) -> dict[str, Any]:
        fields = ("name", "description", "segment", "template", "cron", "timezone", "is_active")
        return {
            name: self.cleaned_data[name] for name in (*fields, "start_date", "end_date", "track_opens", "track_clicks")
        }

    @classmethod
    def initial_for(cls, automation: Automation) -> dict[str, Any]:  # type: ignore[override]
        fields = ("name", "description", "segment", "template", "timezone", "is_active", "start_date", "end_date")
        initial = {name: getattr(automation, name) for name in (*fields, "track_opens", "track_clicks")}
        return initial | CronBuilderForm.initial_for(automation.cron)


class AutomationFilterForm(forms.Form):
    search = forms.CharField(required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), (ACTIVE, "Active"), (PAUSED, "Paused")], required=False)
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name", "id"), required=False, empty_label="Any segment"
    )
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.order_by("name", "id"), required=False, empty_label="Any template"
    )
