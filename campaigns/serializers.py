"""API v1 shapes of campaigns and scenarios (ARCHITECTURE §5). Serializers validate and format; services write."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns import selectors
from campaigns.models import Campaign, Scenario
from segments.models import Segment
from templates_app.models import MessageTemplate
from templates_app.services import content_syntax_validator, subject_syntax_validator


class CampaignSerializer(serializers.ModelSerializer):
    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(), allow_null=True, required=False)
    batch = serializers.IntegerField(source="batch_id", read_only=True)
    batch_size = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "description",
            "start_date",
            "end_date",
            "timezone",
            "segment",
            "channel",
            "status",
            "track_opens",
            "track_clicks",
            "batch",
            "batch_size",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    @extend_schema_field(serializers.IntegerField())
    def get_batch_size(self, campaign: Campaign) -> int:
        size = getattr(campaign, "batch_size", None)
        if size is None:
            size = campaign.batch.members.count()
        return int(size)


class ContactRowSerializer(serializers.Serializer):
    """One contact of a JSON upload: the same columns a CSV would have."""

    email = serializers.CharField(max_length=254)
    name = serializers.CharField(max_length=300, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    mobile = serializers.CharField(max_length=40, required=False, allow_blank=True)


class ContactUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV with an email column (and name, or first_name/last_name).")


class ProgressSerializer(serializers.Serializer):
    status = serializers.CharField()
    reason = serializers.CharField()
    total = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    queued = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    percent = serializers.FloatField()
    rate_per_s = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True)
    snapshotting = serializers.BooleanField(
        help_text="The first emails are out and the rest of the audience is still being written: `total` counts "
        "the recipients written so far, `percent` is 0 and there is no ETA until it is done."
    )


@extend_schema_field(
    {
        "type": "string",
        # OpenAPI's `format: time` is RFC 3339 full-time, which needs an offset ("10:00:00Z"); a send time is a
        # wall-clock time in the campaign's timezone, so the schema states the exact shape the API reads and answers.
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
        "example": "09:30:00",
        "description": "Local time in the campaign's timezone, HH:MM[:SS].",
    }
)
class WallClockTimeField(serializers.TimeField):
    pass


class ScenarioSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.TimeField: WallClockTimeField,
    }
    campaign = serializers.PrimaryKeyRelatedField(queryset=Campaign.objects.all())
    template = serializers.PrimaryKeyRelatedField(
        queryset=MessageTemplate.objects.all(), allow_null=True, required=False
    )
    draft = serializers.BooleanField(
        write_only=True,
        required=False,
        help_text="Create or keep it as a draft (not planned) instead of scheduled at its date and time.",
    )
    recipient_count = serializers.IntegerField(source="contacts_served", read_only=True)
    scheduled_at = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Scenario
        fields = [
            "id",
            "campaign",
            "subject",
            "content",
            "template",
            "send_date",
            "send_time",
            "draft",
            "status",
            "scheduled_at",
            "recipient_count",
            "contacts_served",
            "sent_at",
            "progress",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "status", "contacts_served", "sent_at", "created_at", "updated_at"]
        extra_kwargs = {
            "subject": {"validators": [subject_syntax_validator]},
            "content": {"required": False, "allow_blank": True, "validators": [content_syntax_validator]},
        }

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            # A scenario never moves to another campaign (its batch and timeline come from it).
            fields["campaign"].read_only = True
        return fields

    @extend_schema_field(serializers.DateTimeField())
    def get_scheduled_at(self, scenario: Scenario) -> dt.datetime:
        return selectors.scenario_scheduled_at(scenario=scenario)

    @extend_schema_field(ProgressSerializer(allow_null=True))
    def get_progress(self, scenario: Scenario) -> dict[str, Any] | None:
        if not self.context.get("with_progress"):
            return None
        progress = selectors.scenario_progress(scenario=scenario)
        if progress is None:
            return None
        return {
            "status": progress.status,
            "reason": progress.reason,
            "total": progress.total,
            "sent": progress.sent,
            "failed": progress.failed,
            "queued": progress.queued,
            "cancelled": progress.cancelled,
            "percent": round(progress.percent, 1),
            "rate_per_s": round(progress.rate_per_s, 2),
            "eta_seconds": None if progress.eta_seconds is None else round(progress.eta_seconds, 1),
            "snapshotting": progress.snapshotting,
        }


class ScenarioSendSerializer(serializers.Serializer):
    at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="null (or absent): send now; an ISO datetime: schedule."
    )
