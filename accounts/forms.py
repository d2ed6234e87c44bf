from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone

from accounts import roles
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
