from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, Notification


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


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created on the dashboard's API keys page (the key is shown once there); here they are listed
    and revoked."""

    list_display = ("name", "owner", "scope", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("scope", ("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "owner__username", "owner__email")
    raw_id_fields = ("owner",)
    readonly_fields = ("name", "owner", "scope", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    exclude = ("hashed_secret",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(services.api_key_revoke(key=key) for key in queryset)
        self.message_user(request, f"{revoked} key(s) revoked.")
