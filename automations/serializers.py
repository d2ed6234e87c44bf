"""API v1 shapes of automations (ARCHITECTURE §5). Serializers validate and format; services write."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from automations import selectors
from automations.models import Automation, AutomationRun
from segments.models import Segment
from templates_app.models import MessageTemplate


class AutomationSerializer(serializers.ModelSerializer):
    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all())
    template = serializers.PrimaryKeyRelatedField(queryset=MessageTemplate.objects.all())
    cron = serializers.CharField(max_length=100, help_text="5 fields: minute hour day-of-month month day-of-week.")
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    schedule_text = serializers.SerializerMethodField()
    next_runs = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Automation
        fields = [
            "id",
            "name",
            "description",
            "segment",
            "template",
            "cron",
            "timezone",
            "is_active",
            "start_date",
            "end_date",
            "track_opens",
            "track_clicks",
            "paused_reason",
            "schedule_text",
            "next_runs",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "paused_reason", "created_at", "updated_at"]

    @extend_schema_field(serializers.CharField())
    def get_schedule_text(self, automation: Automation) -> str:
        return selectors.automation_schedule(automation=automation).text

    @extend_schema_field(serializers.ListField(child=serializers.DateTimeField()))
    def get_next_runs(self, automation: Automation) -> list[str]:
        runs: list[dt.datetime] = selectors.automation_schedule(automation=automation).next_runs
        return [run.isoformat() for run in runs]


class AutomationRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = AutomationRun
        fields = [
            "id",
            "automation",
            "due_at",
            "trigger",
            "status",
            "reason",
            "send",
            "audience_size",
            "sent",
            "failed",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class AutomationRunRequestSerializer(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="The due time of this run (default: this minute). The same `at` twice runs once.",
    )
