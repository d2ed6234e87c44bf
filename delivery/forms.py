"""Form fields every owner of a Send shares: the tracking switches of campaigns, automations and journeys."""

from __future__ import annotations

from django import forms

OPENS_HELP = "A tiny invisible image in each email counts opens."
CLICKS_HELP = "Links go through a signed redirect that counts clicks (unsubscribe links excepted)."


def track_opens_field(*, help_suffix: str = "") -> forms.BooleanField:
    """The "Track opens" switch (on by default; the Send copies it when it is created)."""
    return forms.BooleanField(
        required=False, initial=True, label="Track opens", help_text=f"{OPENS_HELP} {help_suffix}".strip()
    )


def track_clicks_field() -> forms.BooleanField:
    """The "Track clicks" switch (on by default; the Send copies it when it is created)."""
    return forms.BooleanField(required=False, initial=True, label="Track clicks", help_text=CLICKS_HELP)
