from __future__ import annotations

from django import forms


class ScenarioMoveForm(forms.Form):
    """The calendar's move: only the day changes (the time stays); the scenario's own rules decide the rest."""

    send_date = forms.DateField(input_formats=["%Y-%m-%d"], widget=forms.DateInput(attrs={"type": "date"}))
