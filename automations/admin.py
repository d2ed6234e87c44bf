from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from automations import services
from automations.models import Automation, AutomationRun


class AutomationAdminForm(forms.ModelForm):
    class Meta:
        model = Automation
        fields = [*services.AUTOMATION_FIELDS, "created_by"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        probe = Automation(pk=self.instance.pk, **{f: data.get(f) for f in services.AUTOMATION_FIELDS if f in data})
        try:
            services.automation_validate(automation=probe)
        except ValidationError as exc:
            self.add_error(None, exc)
        return data


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    form = AutomationAdminForm
    list_display = (
        "name",
        "is_active",
        "cron",
        "timezone",
        "segment",
        "template",
        "start_date",
        "end_date",
        "created_by",
    )
    list_filter = ("is_active", "timezone", "template__channel")
    search_fields = ("name", "description", "cron", "segment__name", "template__name")
    raw_id_fields = ("segment", "template", "created_by")
    readonly_fields = ("paused_reason", "created_at", "updated_at")
    actions = ["pause", "resume", "run_now"]

    def save_model(self, request: HttpRequest, obj: Automation, form: Any, change: bool) -> None:
        # Through the services, so the PeriodicTask moves with the row in the same transaction.
        fields = {f: getattr(obj, f) for f in services.AUTOMATION_FIELDS}
        if change:
            services.automation_update(automation=obj, **{f: fields[f] for f in form.changed_data if f in fields})
        else:
            created = services.automation_create(**fields, user=request.user)
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Automation) -> None:
        services.automation_delete(automation_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Automation]) -> None:
        for automation_id in list(queryset.values_list("pk", flat=True)):
            services.automation_delete(automation_id=automation_id)

    @admin.action(description="Pause")
    def pause(self, request: HttpRequest, queryset: QuerySet[Automation]) -> None:
        for automation in queryset:
            services.automation_pause(automation_id=automation.pk, reason=f"Paused by {request.user}")
        self.message_user(request, f"Paused {queryset.count()} automation(s).", messages.SUCCESS)

    @admin.action(description="Resume")
    def resume(self, request: HttpRequest, queryset: QuerySet[Automation]) -> None:
        for automation in queryset:
            try:
                services.automation_resume(automation_id=automation.pk)
            except ValidationError as exc:
                self.message_user(request, f"{automation}: {' '.join(exc.messages)}", messages.WARNING)

    @admin.action(description="Run now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Automation]) -> None:
        for automation in queryset:
            result = services.automation_run_now(automation_id=automation.pk)
            self.message_user(request, f"{automation}: {result.summary}", messages.INFO)


@admin.register(AutomationRun)
class AutomationRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "automation",
        "due_at",
        "trigger",
        "status",
        "reason",
        "audience_size",
        "sent",
        "failed",
        "started_at",
        "finished_at",
    )
    list_filter = ("status", "trigger", "due_at")
    search_fields = ("automation__name", "reason")
    raw_id_fields = ("automation", "send")
    date_hierarchy = "due_at"

    # Runs are written by firings and closed by the engine's events; the admin only reads them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AutomationRun | None = None) -> bool:
        return False


from automations import journey_admin  # noqa: E402,F401  (registers the journey admins)
