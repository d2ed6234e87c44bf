from __future__ import annotations

from typing import Any

from django import forms

from contacts.models import Batch, ImportJob


class ImportUploadForm(forms.Form):
    """Upload a CSV of contacts (or funnel events); validates, never saves: the view calls the service."""

    file = forms.FileField(help_text="CSV: any usual encoding (UTF-8, Excel's CP1252) and delimiter (, ; tab).")
    kind = forms.ChoiceField(choices=ImportJob.Kind.choices, initial=ImportJob.Kind.CONTACTS)
    batch = forms.ModelChoiceField(
        queryset=Batch.objects.order_by("-id"),
        required=False,
        help_text="Record the imported contacts as members of this batch (optional).",
    )
    new_batch_name = forms.CharField(
        max_length=200, required=False, help_text="…or create a new batch with this name for this upload."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("batch") and data.get("new_batch_name"):
            raise forms.ValidationError("Choose an existing batch or name a new one, not both.")
        if data.get("kind") == ImportJob.Kind.EVENTS and (data.get("batch") or data.get("new_batch_name")):
            raise forms.ValidationError("Funnel events are not added to batches.")
        return data
