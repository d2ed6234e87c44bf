from __future__ import annotations

import datetime
from typing import Any

from auditlog.models import LogEntry
from django import forms
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from accounts import roles
from accounts.audit import audited_content_type_ids
from accounts.models import ApiKey

EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]


class ApiKeyForm(forms.Form):
    """Validates a new key's fields; the scopes offered stop at the user's role (the service checks it again)."""

    name = forms.CharField(max_length=100)
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices)
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="90", label="Expires in")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        widest = roles.SCOPE_RANK[roles.max_scope(user)]
        scope = self.fields["scope"]
        assert isinstance(scope, forms.ChoiceField)
        scope.choices = [(v, label) for v, label in ApiKey.Scope.choices if roles.SCOPE_RANK[v] <= widest]

    def expires_at(self) -> datetime.datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + datetime.timedelta(days=int(days)) if days else None


class AuditFilterForm(forms.Form):
    """The audit log page's filters (GET); every field optional."""

    model = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="What")
    action = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=[("", "Any action"), *LogEntry.Action.choices]
    )
    actor = forms.CharField(required=False, max_length=150, label="Who (username)")
    object_id = forms.CharField(required=False, max_length=255, label="Object id")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = ContentType.objects.filter(pk__in=audited_content_type_ids()).order_by("app_label", "model")
        model = self.fields["model"]
        assert isinstance(model, forms.TypedChoiceField)
        model.choices = [("", "Anything"), *((ct.pk, ct.name.capitalize()) for ct in kinds)]
        for field in self.fields.values():
            css = "form-select" if isinstance(field, forms.ChoiceField) else "form-control"
            field.widget.attrs["class"] = f"{css} {css}-sm"
