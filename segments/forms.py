from __future__ import annotations

import io
import json
from typing import IO, Any

from django import forms

from accounts import roles
from segments.functions import function_choices
from segments.models import Segment


class SegmentForm(forms.ModelForm):
    """Validates the shape of the input; the definition itself is checked by `segments.services`."""

    rules = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace", "spellcheck": "false"}),
        help_text="The rules as JSON (the builder above writes it).",
    )
    handler_function = forms.ChoiceField(required=False, label="Function")

    class Meta:
        model = Segment
        fields = ["name", "description", "type", "rules", "selection_sql", "handler_function"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "selection_sql": forms.Textarea(attrs={"rows": 8, "class": "font-monospace", "spellcheck": "false"}),
        }
        labels = {"selection_sql": "SQL"}
        help_texts = {
            "selection_sql": "One SELECT returning contact ids, e.g. SELECT id FROM contacts_contact WHERE ... "
            "It runs read-only with a time limit. Only Admins can write SQL segments."
        }

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        handler = self.fields["handler_function"]
        assert isinstance(handler, forms.ChoiceField)
        handler.choices = [("", "—"), *function_choices()]
        current = self.instance.type if self.instance.pk else None
        if user is not None and not roles.is_admin(user) and current != Segment.Type.SQL:
            type_field = self.fields["type"]
            assert isinstance(type_field, forms.ChoiceField)
            type_field.choices = [c for c in Segment.Type.choices if c[0] != Segment.Type.SQL]
        if self.instance.pk:
            self.initial["rules"] = json.dumps(self.instance.rules or {}, indent=2)

    def clean_rules(self) -> Any:
        text = (self.cleaned_data.get("rules") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('The rules are a JSON object like {"op": "and", "conditions": []}.')
        return value


class MembersUploadForm(forms.Form):
    file = forms.FileField(
        required=False, help_text="CSV with one customer id or email per row (a header row is optional)."
    )
    members = forms.CharField(
        required=False,
        label="Or list them",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "42\nann@example.org"}),
        help_text="Customer ids or emails, one per line.",
    )
    replace = forms.BooleanField(required=False, label="Replace the current members")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("file") and not (data.get("members") or "").strip():
            raise forms.ValidationError("Choose a CSV file or list customer ids or emails.")
        return data

    def source(self) -> IO[bytes] | IO[str]:
        """The uploaded file, or the listed members as a one-column CSV."""
        upload = self.cleaned_data.get("file")
        if upload:
            return upload  # type: ignore[no-any-return]
        return io.StringIO(self.cleaned_data["members"])
