"""Django admin of journeys: definitions editable, enrollments and their history read-only but for the actions,
which call automations.journeys (the same services as the pages and the API)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from automations import journeys
from automations.journey_models import Enrollment, EnrollmentStep, Journey, JourneyStep


class JourneyStepInline(admin.TabularInline):
    model = JourneyStep
    extra = 0
    raw_id_fields = ["template"]
    fields = ["position", "key", "type", "template", "minutes", "time", "weekdays", "condition", "yes_key", "no_key"]
    fields.append("next_key")


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "trigger", "goal", "reentry", "timezone", "created_by", "updated_at"]
    list_filter = ["status", "reentry"]
    search_fields = ["name", "description"]
    raw_id_fields = ["created_by"]
    readonly_fields = ["status", "activated_at", "paused_at", "resumed_at", "created_at", "updated_at"]
    readonly_fields += ["segment_checked_at", "segment_seeded_at"]
    inlines = [JourneyStepInline]
    actions = ["activate", "pause", "archive"]

    @admin.action(description="Activate the selected journeys")
    def activate(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        for journey in queryset:
            try:
                journeys.journey_activate(journey_id=journey.pk)
            except (ValidationError, journeys.JourneyStateError) as exc:
                self.message_user(
                    request, f"{journey}: {' '.join(getattr(exc, 'messages', [str(exc)]))}", messages.ERROR
                )

    @admin.action(description="Pause the selected journeys")
    def pause(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        for journey in queryset:
            try:
                journeys.journey_pause(journey_id=journey.pk)
            except journeys.JourneyStateError as exc:
                self.message_user(request, f"{journey}: {exc}", messages.ERROR)

    @admin.action(description="Archive the selected journeys (cancels their active enrollments)")
    def archive(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        for journey in queryset:
            journeys.journey_archive(journey_id=journey.pk)


@admin.register(JourneyStep)
class JourneyStepAdmin(admin.ModelAdmin):
    list_display = ["journey", "position", "key", "type", "template", "minutes", "time"]
    list_filter = ["type"]
    search_fields = ["journey__name", "key"]
    raw_id_fields = ["journey", "template"]


class EnrollmentStepInline(admin.TabularInline):
    model = EnrollmentStep
    extra = 0
    can_delete = False
    raw_id_fields = ["send"]
    readonly_fields = ["step_key", "visit", "ran_at", "outcome", "detail", "send"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["journey", "contact", "status", "step_key", "next_at", "entered_at", "finished_at"]
    list_filter = ["status", "journey"]
    search_fields = ["contact__email", "journey__name"]
    raw_id_fields = ["journey", "contact"]
    readonly_fields = [f.name for f in Enrollment._meta.fields]
    inlines = [EnrollmentStepInline]
    actions = ["cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel the selected enrollments")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Enrollment]) -> None:
        done = sum(journeys.enrollment_cancel(enrollment_id=e.pk, reason="cancelled in the admin") for e in queryset)
        self.message_user(request, f"{done} enrollment(s) cancelled.")


@admin.register(EnrollmentStep)
class EnrollmentStepAdmin(admin.ModelAdmin):
    list_display = ["enrollment", "step_key", "visit", "outcome", "ran_at", "send"]
    list_filter = ["outcome"]
    search_fields = ["enrollment__contact__email", "step_key"]
    raw_id_fields = ["enrollment", "send"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
