"""Dashboard forms. They check the shape of the input; the rules (timeline, editability, time zones) live in
`campaigns.services`, whose ValidationError is put back on the form by `apply_service_errors`."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q

from campaigns.models import Campaign, Scenario
from delivery.forms import track_clicks_field, track_opens_field
from segments.models import Segment
from templates_app.models import MessageTemplate
from templates_app.services import content_syntax_validator, subject_syntax_validator

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_INPUT = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@lru_cache(maxsize=1)
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def apply_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field where the form has that field, else on top."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class _CrispyForm(forms.Form):
    """A form crispy renders without its own <form> tag: the template owns the tag, the CSRF token and buttons."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


def _email_templates() -> Any:
    return MessageTemplate.objects.filter(channel=MessageTemplate.Channel.EMAIL).order_by("name")


class CampaignForm(_CrispyForm):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    start_date = forms.DateField(widget=DATE_INPUT, help_text="First day of the campaign's timeline.")
    end_date = forms.DateField(widget=DATE_INPUT, help_text="Last day; scenarios must fall inside the timeline.")
    timezone = forms.ChoiceField(choices=timezone_choices, help_text="Scenario dates and times are read in this zone.")
    channel = forms.ChoiceField(choices=Campaign.Channel.choices, initial=Campaign.Channel.EMAIL)
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"),
        required=False,
        empty_label="The campaign's own batch (uploaded contacts)",
        label="Audience",
        help_text="A segment, or leave empty to send to the contacts uploaded into this campaign.",
    )
    status = forms.ChoiceField(choices=Campaign.Status.choices, initial=Campaign.Status.ACTIVE)
    track_opens = track_opens_field(help_suffix="Applies to runs that start later.")
    track_clicks = track_clicks_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("timezone", settings.TIME_ZONE)
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "The end date must be on or after the start date.")
        return data

    @classmethod
    def initial_for(cls, campaign: Campaign) -> dict[str, Any]:
        fields = ("name", "description", "start_date", "end_date", "timezone", "channel", "segment", "status")
        return {field: getattr(campaign, field) for field in (*fields, "track_opens", "track_clicks")}


class ScenarioForm(_CrispyForm):
    subject = forms.CharField(max_length=300, validators=[subject_syntax_validator])
    content = forms.CharField(
        validators=[content_syntax_validator],
        widget=forms.Textarea(attrs={"rows": 8}),
        required=False,
        label="Content (plain text)",
        help_text="Personalise with {{ first_name }}, {{ last_name }}, {{ email }}. Leave empty when a template is chosen.",
    )
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(),
        required=False,
        empty_label="No template: send the content above",
        help_text="An email template (HTML, MJML or text) instead of the plain content.",
    )
    send_date = forms.DateField(widget=DATE_INPUT)
    send_time = forms.TimeField(widget=TIME_INPUT, help_text="In the campaign's time zone.")
    draft = forms.BooleanField(
        required=False, label="Keep as draft", help_text="A draft is not sent until you schedule or send it."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = _email_templates()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("content") or "").strip() and not data.get("template") and "content" not in self.errors:
            self.add_error("content", "Write the content or choose a template.")
        return data

    @classmethod
    def initial_for(cls, scenario: Scenario) -> dict[str, Any]:
        return {
            "subject": scenario.subject,
            "content": scenario.content,
            "template": scenario.template,
            "send_date": scenario.send_date,
            "send_time": scenario.send_time,
            "draft": scenario.status == Scenario.Status.DRAFT,
        }


class ContactUploadForm(_CrispyForm):
    file = forms.FileField(
        label="CSV file",
        help_text="A header row with at least an email column (name, first_name, last_name and more are optional).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class QuickCampaignForm(_CrispyForm):
    """Seed 002's one-off send: a campaign with one scenario, to a segment or to an uploaded CSV."""

    AUDIENCE_SEGMENT = "segment"
    AUDIENCE_UPLOAD = "upload"
    WHEN_NOW = "now"
    WHEN_LATER = "later"

    name = forms.CharField(max_length=200, label="Campaign name")
    subject = forms.CharField(max_length=300, validators=[subject_syntax_validator])
    content = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        label="Content (plain text)",
        validators=[content_syntax_validator],
    )
    template = forms.ModelChoiceField(
        queryset=MessageTemplate.objects.none(), required=False, empty_label="No template: send the content above"
    )
    audience = forms.ChoiceField(
        choices=[(AUDIENCE_SEGMENT, "A segment"), (AUDIENCE_UPLOAD, "Upload a CSV of contacts")],
        widget=forms.RadioSelect,
        initial=AUDIENCE_SEGMENT,
    )
    segment = forms.ModelChoiceField(queryset=Segment.objects.order_by("name"), required=False)
    file = forms.FileField(
        required=False,
        label="CSV file",
        help_text="A header row with at least an email column.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    when = forms.ChoiceField(
        choices=[(WHEN_NOW, "Send now"), (WHEN_LATER, "Schedule")], widget=forms.RadioSelect, initial=WHEN_NOW
    )
    send_at = forms.DateTimeField(
        required=False,
        widget=DATETIME_INPUT,
        input_formats=DATETIME_FORMATS,
        label="Send at",
        help_text="In the time zone below.",
    )
    timezone = forms.ChoiceField(choices=timezone_choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("timezone", settings.TIME_ZONE)
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = _email_templates()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("content") or "").strip() and not data.get("template") and "content" not in self.errors:
            self.add_error("content", "Write the content or choose a template.")
        if data.get("audience") == self.AUDIENCE_SEGMENT and not data.get("segment"):
            self.add_error("segment", "Choose the segment to send to.")
        if data.get("audience") == self.AUDIENCE_UPLOAD and not data.get("file"):
            self.add_error("file", "Choose the CSV file of contacts.")
        if data.get("when") == self.WHEN_LATER and not data.get("send_at") and "send_at" not in self.errors:
            self.add_error("send_at", "Pick the date and time to send at.")
        return data

    def send_at_aware(self) -> dt.datetime | None:
        """The chosen instant read in the chosen zone, or None for "send now"."""
        data = self.cleaned_data
        if data["when"] != self.WHEN_LATER:
            return None
        at: dt.datetime = data["send_at"]
        return at.replace(tzinfo=zoneinfo.ZoneInfo(data["timezone"]))


class HistoryFilterForm(forms.Form):
    """GET filters of the history page; invalid values are ignored rather than shown as errors."""

    search = forms.CharField(required=False)
    status = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(required=False, choices=[("", "Any channel"), *Campaign.Channel.choices])
    created_by = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False, empty_label="Anyone")
    date_from = forms.DateField(required=False, widget=DATE_INPUT, label="From")
    date_to = forms.DateField(required=False, widget=DATE_INPUT, label="To")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        statuses = {**dict(Scenario.Status.choices), **dict(Campaign.Status.choices)}
        self.fields["status"].choices = [("", "Any status"), *statuses.items()]  # type: ignore[attr-defined]
        creators = (
            get_user_model()
            .objects.filter(Q(campaign__isnull=False) | Q(scenario__isnull=False))
            .distinct()
            .order_by("username")
        )
        self.fields["created_by"].queryset = creators  # type: ignore[attr-defined]


class CampaignFilterForm(forms.Form):
    search = forms.CharField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Campaign.Status.choices])


class ScenarioFilterForm(forms.Form):
    search = forms.CharField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Scenario.Status.choices])
    campaign = forms.ModelChoiceField(
        queryset=Campaign.objects.order_by("-id"), required=False, empty_label="Any campaign"
    )
    send_date = forms.DateField(required=False, widget=DATE_INPUT, label="Send date")
