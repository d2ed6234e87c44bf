from __future__ import annotations

from typing import Any

from django import forms

from contacts.importing.columns import valid_email
from contacts.models import Batch, Contact, ImportJob


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


class ContactForm(forms.ModelForm):
    """Add or edit one contact; validates (format, uniqueness), never saves: the view calls the service."""

    class Meta:
        model = Contact
        fields = ["email", "first_name", "last_name", "mobile", "lms_lead_id"]
        labels = {"lms_lead_id": "External id"}
        help_texts = {"lms_lead_id": "The contact's id in your other system (CRM, LMS); unique when set."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"] = forms.EmailField(max_length=254, label="Email")

    def clean_email(self) -> str:
        # Emails are stored lower-cased, so the uniqueness check below compares like with like.
        email = str(self.cleaned_data["email"]).strip().lower()
        # The same syntax rule as imports and the API (email-validator), stricter than Django's EmailField alone.
        if not valid_email(email):
            raise forms.ValidationError("Enter a valid email address.")
        return email

    def clean_lms_lead_id(self) -> str | None:
        value = (self.cleaned_data.get("lms_lead_id") or "").strip() or None
        # The unique constraint is conditional (NULLs allowed), so Django would report it only as a form-wide
        # "constraint violated"; say it on the field instead.
        if value and Contact.objects.filter(lms_lead_id=value).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("Another contact has this external id.")
        return value
