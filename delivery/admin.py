from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from contacts.admin import EstimatedCountPaginator
from delivery import services
from delivery.models import Delivery, OutboxMessage, Send, TrackingEvent, WebhookEvent


@admin.register(Send)
class SendAdmin(admin.ModelAdmin):
    list_display = ("id", "label", "status", "total", "sent", "failed", "cancelled", "started_at", "finished_at")
    list_filter = ("status", "created_at")
    search_fields = ("label", "subject")
    raw_id_fields = ("template",)
    # The rest of a two-part snapshot is SQL the engine runs with its own role: written only by `send_start` from
    # a QuerySet, never editable (nor shown: a SQL segment's can be megabytes).
    exclude = ("snapshot_rest_sql",)
    readonly_fields = (
        "snapshot_after",
        "status",
        "status_reason",
        "total",
        "sent",
        "failed",
        "cancelled",
        "pages",
        "retry_round",
        "last_progress_at",
        "snapshot_at",
        "started_at",
        "finished_at",
        "created_at",
    )
    actions = ["pause", "resume", "cancel", "retry_failed"]

    @admin.action(description="Pause the selected sends")
    def pause(self, request: HttpRequest, queryset: QuerySet[Send]) -> None:
        n = sum(
            services.send_pause(send_id=pk, reason=f"Paused by {request.user}")
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{n} send(s) paused.", messages.SUCCESS)

    @admin.action(description="Resume the selected sends")
    def resume(self, request: HttpRequest, queryset: QuerySet[Send]) -> None:
        pages = sum(services.send_resume(send_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Resumed; {pages} page(s) queued again.", messages.SUCCESS)

    @admin.action(description="Cancel the selected sends")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Send]) -> None:
        rows = sum(
            services.send_cancel(send_id=pk, reason=f"Cancelled by {request.user}")
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"Cancelled; {rows} recipient(s) will not be sent.", messages.SUCCESS)

    @admin.action(description="Retry the failed recipients")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Send]) -> None:
        rows = sum(services.send_retry_failed(send_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{rows} failed recipient(s) queued again.", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "send", "email", "status", "page", "attempts", "sent_at", "last_error")
    list_filter = ("status",)
    search_fields = ("email", "provider_message_id")
    raw_id_fields = ("send", "contact")
    list_select_related = ("send",)
    # The engine owns these rows: an admin reads them, changes go through the Send's actions.
    readonly_fields = tuple(f.name for f in Delivery._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "event_type",
        "event_id",
        "provider_message_id",
        "delivery_id",
        "outcome",
        "received_at",
    )
    list_filter = ("provider", "event_type", "received_at")
    search_fields = ("event_id", "provider_message_id")
    # A record of what the provider said: read-only, and only the webhook writes it.
    readonly_fields = tuple(f.name for f in WebhookEvent._meta.fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False


@admin.register(TrackingEvent)
class TrackingEventAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "kind", "classification", "rule", "source", "send_id", "delivery_id", "url")
    list_filter = ("kind", "classification", "rule", "source")
    search_fields = ("url", "user_agent")
    # Raw events as they came (docs/tracking.md): read-only; only the tracking endpoints and webhooks write them.
    readonly_fields = tuple(f.name for f in TrackingEvent._meta.fields)
    # Millions of rows: no COUNT(*) per page (the planner's estimate, as for contacts).
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: TrackingEvent | None = None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ("id", "to", "subject", "from_email", "created_at")
    list_filter = ("created_at",)
    search_fields = ("to", "subject")
    raw_id_fields = ("delivery",)
    readonly_fields = ("delivery", "to", "from_email", "subject", "body_text", "body_html", "headers", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
