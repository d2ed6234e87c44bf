from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts import roles
from segments import services
from segments.models import Segment, SegmentMember


class SegmentAdminForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "description", "type", "rules", "selection_sql", "handler_function", "created_by"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        candidate = Segment(
            type=data.get("type", ""),
            rules=data.get("rules") or {},
            selection_sql=data.get("selection_sql") or "",
            handler_function=data.get("handler_function") or "",
        )
        try:
            services.segment_validate_definition(segment=candidate)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
        return data


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentAdminForm
    list_display = ["name", "type", "handler_function", "created_by", "updated_at"]
    list_filter = ["type"]
    search_fields = ["name", "description"]
    raw_id_fields = ["created_by"]
    readonly_fields = ["created_at", "updated_at"]

    def _may_write(self, request: HttpRequest, obj: Segment | None) -> bool:
        if not roles.can_edit(request.user):
            return False
        return not (obj is not None and obj.type == Segment.Type.SQL and not roles.is_admin(request.user))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_write(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_write(request, obj) and super().has_delete_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return roles.can_edit(request.user) and super().has_add_permission(request)

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        # The SQL rule holds in the admin too: only Admins save SQL segments.
        services.segment_check_write_permission(user=request.user, segment_type=obj.type)
        super().save_model(request, obj, form, change)


@admin.register(SegmentMember)
class SegmentMemberAdmin(admin.ModelAdmin):
    list_display = ["segment", "contact", "added_at"]
    list_filter = ["segment"]
    search_fields = ["segment__name", "contact__email"]
    raw_id_fields = ["segment", "contact"]
