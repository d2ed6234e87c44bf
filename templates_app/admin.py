from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts import roles
from templates_app import services
from templates_app.models import MessageTemplate
from templates_app.rendering import TemplateError


class MessageTemplateAdminForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["name", "channel", "templating_type", "subject", "message", "created_by"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            services.template_compile_source(
                subject=data.get("subject", ""),
                body=data.get("message", ""),
                templating=data.get("templating_type", ""),
            )
        except TemplateError as exc:
            self.add_error("subject" if exc.source == "subject" else "message", str(exc))
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateAdminForm
    list_display = ["name", "channel", "templating_type", "subject", "created_by", "updated_at"]
    list_filter = ["channel", "templating_type"]
    search_fields = ["name", "subject"]
    raw_id_fields = ["created_by"]
    readonly_fields = ["created_at", "updated_at"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return roles.can_edit(request.user) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.can_edit(request.user) and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return roles.can_edit(request.user) and super().has_delete_permission(request, obj)
