from __future__ import annotations

from django import forms

from reports.services import MAX_WINDOW_DAYS


class GoalForm(forms.Form):
    stage = forms.CharField(
        label="Conversion stage",
        max_length=100,
        help_text="A funnel event moving a contact to this stage is a conversion.",
    )
    window_days = forms.IntegerField(
        label="Attribution window (days)",
        min_value=1,
        max_value=MAX_WINDOW_DAYS,
        help_text="How long after a click (or after delivery, when there was no click) a conversion still counts.",
    )
