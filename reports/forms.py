from __future__ import annotations

from django import forms

from reports.services import MAX_WINDOW_DAYS


class GoalForm(forms.Form):
    stage = forms.CharField(label="Conversion stage", max_length=100)
    window_days = forms.IntegerField(label="Window (days)", min_value=1, max_value=MAX_WINDOW_DAYS)
