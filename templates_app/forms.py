from __future__ import annotations

from typing import Any

from django import forms

from templates_app.models import MessageTemplate


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["name", "channel", "templating_type", "subject", "message"]
        widgets = {
            # data-code-editor: static/templates_app/editor.js turns it into a highlighting editor (a plain
            # textarea without JavaScript).
            "message": forms.Textarea(
                attrs={"rows": 22, "class": "font-monospace", "spellcheck": "false", "data-code-editor": "true"}
            ),
        }
        help_texts = {
            "channel": (
                "WhatsApp templates are stored for later: campaigns, automations and test sends cannot send them yet. "
                "Choose Email for anything you want to send now."
            ),
            "subject": 'Template variables work here too: {{ first_name|default:"there" }}.',
            "message": (
                "Variables: first_name, last_name, full_name, email, mobile, lms_lead_id, attributes.<name> (or the "
                'bare attribute name), unsubscribe_url, view_in_browser_url. Give defaults: {{ first_name|default:"there" }}.'
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["subject"].required = False

    def clean_message(self) -> str:
        # Browsers submit a textarea with CRLF line ends (HTML spec), while the live preview posts the value with
        # LF; mjml-python fails on a CR inside <mj-head> ("unexpected token in root template"), so a template that
        # previewed fine would not save. Store LF, as typed.
        return str(self.cleaned_data["message"]).replace("\r\n", "\n").replace("\r", "\n")


class TestSendForm(forms.Form):
    to = forms.EmailField(label="Send a test to")
    contact = forms.CharField(
        label="Render as contact (id or email)", required=False, help_text="Leave empty for an anonymous reader."
    )


class PreviewContactForm(forms.Form):
    contact = forms.CharField(label="Preview as contact (id or email)", required=False)
