from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from campaigns import services
from campaigns.models import Campaign, Emailer, Scenario


class ScenarioInline(admin.TabularInline):
    model = Scenario
    fields = ("subject", "send_date", "send_time", "status", "contacts_served", "sent_at")
    readonly_fields = ("status", "contacts_served", "sent_at")
    raw_id_fields = ("template",)
    extra = 0
    show_change_link = True


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [*services.CAMPAIGN_FIELDS, "created_by"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        probe = Campaign(pk=self.instance.pk, **{f: data.get(f) for f in services.CAMPAIGN_FIELDS if f in data})
        if probe.start_date and probe.end_date:
            try:
                services.campaign_validate(campaign=probe)
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


class ScenarioAdminForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = ["campaign", *services.SCENARIO_FIELDS, "created_by"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        campaign = data.get("campaign")
        if campaign is None or data.get("send_date") is None or data.get("send_time") is None:
            return data
        probe = Scenario(
            campaign=campaign,
            status=self.instance.status if self.instance.pk else Scenario.Status.SCHEDULED,
            **{f: data.get(f) for f in services.SCENARIO_FIELDS},
        )
        try:
            services.scenario_validate(scenario=probe)
        except ValidationError as exc:
            self.add_error(None, exc)
        return data


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ("name", "status", "channel", "start_date", "end_date", "timezone", "segment", "created_by")
    list_filter = ("status", "channel", "start_date")
    search_fields = ("name", "description", "created_by__username")
    raw_id_fields = ("batch", "segment", "created_by")
    readonly_fields = ("batch", "created_at", "updated_at")
    date_hierarchy = "start_date"
    inlines = [ScenarioInline]

    def save_model(self, request: HttpRequest, obj: Campaign, form: object, change: bool) -> None:
        # Through the services, so a new campaign gets its batch and a timeline change is validated like anywhere.
        if change:
            changes = {f: getattr(obj, f) for f in form.changed_data if f in services.CAMPAIGN_FIELDS}  # type: ignore[attr-defined]
            services.campaign_update(campaign=obj, **changes)
        else:
            created = services.campaign_create(
                name=obj.name,
                description=obj.description,
                start_date=obj.start_date,
                end_date=obj.end_date,
                timezone=obj.timezone,
                segment=obj.segment,
                channel=obj.channel,
                status=obj.status,
                track_opens=obj.track_opens,
                track_clicks=obj.track_clicks,
                user=request.user,
            )
            obj.pk, obj.batch = created.pk, created.batch


def _run_action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Scenario], name: str) -> None:
    done = 0
    for scenario in queryset:
        try:
            services.scenario_action(scenario_id=scenario.pk, action=name, user=request.user)
            done += 1
        except services.ScenarioStateError as exc:
            modeladmin.message_user(request, f"{scenario}: {exc}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{name.capitalize()}: {done} scenario(s).", messages.SUCCESS)


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    form = ScenarioAdminForm
    list_display = (
        "subject",
        "campaign",
        "send_date",
        "send_time",
        "status",
        "contacts_served",
        "sent_at",
        "created_by",
    )
    list_filter = ("status", "send_date", "campaign__channel")
    search_fields = ("subject", "content", "campaign__name")
    raw_id_fields = ("campaign", "template", "created_by")
    readonly_fields = ("status", "contacts_served", "sent_at", "created_at", "updated_at")
    date_hierarchy = "send_date"
    actions = ["send_now", "pause", "resume", "cancel", "retry_failed"]

    def has_change_permission(self, request: HttpRequest, obj: Scenario | None = None) -> bool:
        # Seed 004: once sent, a scenario can be paused or stopped, never edited.
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Scenario, form: object, change: bool) -> None:
        fields = {f: getattr(obj, f) for f in services.SCENARIO_FIELDS}
        if change:
            services.scenario_update(scenario=obj, **fields)
        else:
            created = services.scenario_create(campaign=obj.campaign, user=request.user, **fields)
            obj.pk = created.pk

    @admin.action(description="Send now")
    def send_now(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        _run_action(self, request, queryset, "send")

    @admin.action(description="Pause")
    def pause(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        _run_action(self, request, queryset, "pause")

    @admin.action(description="Resume")
    def resume(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        _run_action(self, request, queryset, "resume")

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        _run_action(self, request, queryset, "cancel")

    @admin.action(description="Retry failed recipients")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Scenario]) -> None:
        _run_action(self, request, queryset, "retry")


@admin.register(Emailer)
class EmailerAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "scenario",
        "campaign",
        "batch",
        "scheduled_at",
        "active",
        "sent",
        "dispatched_at",
        "started_at",
        "finished_at",
    )
    list_filter = ("active", "sent", "scheduled_at")
    search_fields = ("scenario__subject", "campaign__name")
    raw_id_fields = ("campaign", "scenario", "batch", "send")
    date_hierarchy = "scheduled_at"

    # Emailers are written by the plan and closed by the engine's events; the admin only reads them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Emailer | None = None) -> bool:
        return False
