from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("title", "user", "level", "created_at", "read_at")
    list_filter = ("level", "created_at", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("title", "body", "user__username", "user__email")
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    actions = ["mark_read"]

    @admin.action(description="Mark as read")
    def mark_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        queryset.filter(read_at__isnull=True).update(read_at=timezone.now())
