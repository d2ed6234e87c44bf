from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from scheduler import services
from scheduler.models import PlanRun


@admin.register(PlanRun)
class PlanRunAdmin(admin.ModelAdmin):
    list_display = ("day", "trigger", "planned", "started_at", "finished_at")
    list_filter = ("trigger", "day")
    search_fields = ("day",)
    date_hierarchy = "day"
    readonly_fields = ("day", "trigger", "planned", "started_at", "finished_at")
    actions = ["replan"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Run the plan again for the selected days (idempotent)")
    def replan(self, request: HttpRequest, queryset: QuerySet[PlanRun]) -> None:
        for run in queryset:
            result = services.plan_day(day=run.day, trigger=PlanRun.Trigger.MANUAL)
            self.message_user(request, f"{run.day}: {result.planned} emailers planned.", messages.SUCCESS)
