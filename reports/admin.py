from __future__ import annotations

from django.contrib import admin

from reports.models import ConversionGoal, SendReport, UnsubscribeRecord


@admin.register(ConversionGoal)
class ConversionGoalAdmin(admin.ModelAdmin):
    list_display = ("owner_type", "owner_id", "stage", "window_days", "updated_by", "updated_at")
    list_filter = ("owner_type",)
    search_fields = ("stage",)
    raw_id_fields = ("updated_by",)


@admin.register(SendReport)
class SendReportAdmin(admin.ModelAdmin):
    """Derived rows: read-only here (a recompute overwrites them)."""

    list_display = ("send", "computed_at", "sent", "opened", "clicked", "conversions", "conversions_view", "revenue")
    raw_id_fields = ("send",)

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(UnsubscribeRecord)
class UnsubscribeRecordAdmin(admin.ModelAdmin):
    list_display = ("delivery_id", "send_id", "contact_id", "created_at")
    search_fields = ("=send_id", "=contact_id")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
