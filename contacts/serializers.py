from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from contacts.models import Batch, Contact, ContactAttribute, FunnelEvent, ImportJob
from contacts.services import BULK_LIMIT


class ContactSerializer(serializers.ModelSerializer[Contact]):
    class Meta:
        model = Contact
        fields = [
            "id",
            "email",
            "first_name",
            "last_name",
            "mobile",
            "lms_lead_id",
            "status",
            "unsubscribed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ContactAttributeSerializer(serializers.ModelSerializer[ContactAttribute]):
    class Meta:
        model = ContactAttribute
        fields = ["field_name", "field_type", "field_value", "created_at", "updated_at"]
        read_only_fields = fields


class FunnelEventSerializer(serializers.ModelSerializer[FunnelEvent]):
    email = serializers.CharField(source="contact.email", read_only=True)

    class Meta:
        model = FunnelEvent
        fields = ["id", "contact_id", "email", "funnel_type", "from_stage", "to_stage", "created_at", "amount"]
        read_only_fields = fields


class ContactDetailSerializer(ContactSerializer):
    attributes = ContactAttributeSerializer(many=True, read_only=True)
    events = serializers.SerializerMethodField()

    class Meta(ContactSerializer.Meta):
        fields = [*ContactSerializer.Meta.fields, "attributes", "events"]
        read_only_fields = fields

    def get_events(self, contact: Contact) -> list[dict[str, Any]]:
        events = self.context.get("events", [])
        return [
            {
                "id": e.pk,
                "funnel_type": e.funnel_type,
                "from_stage": e.from_stage,
                "to_stage": e.to_stage,
                "created_at": serializers.DateTimeField().to_representation(e.created_at),
                "amount": None if e.amount is None else str(e.amount),
            }
            for e in events
        ]


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    percent = serializers.IntegerField(read_only=True)
    error_report_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "original_name",
            "batch",
            "status",
            "percent",
            "bytes_total",
            "bytes_processed",
            "rows_total",
            "rows_processed",
            "created",
            "updated",
            "unchanged",
            "skipped",
            "errors",
            "message",
            "error_report_url",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_error_report_url(self, job: ImportJob) -> str | None:
        if not job.error_report:
            return None
        url = reverse("contacts-api:import-errors", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class ImportCreateSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()
    kind = serializers.ChoiceField(choices=ImportJob.Kind.choices, default=ImportJob.Kind.CONTACTS)
    batch = serializers.PrimaryKeyRelatedField(queryset=Batch.objects.all(), required=False, allow_null=True)


class BulkContactsSerializer(serializers.Serializer[Any]):
    contacts = serializers.ListField(child=serializers.JSONField(), max_length=BULK_LIMIT, allow_empty=False)
    batch = serializers.PrimaryKeyRelatedField(queryset=Batch.objects.all(), required=False, allow_null=True)


class EventsSerializer(serializers.Serializer[Any]):
    # Items stay JSON here: each one is validated by `contacts.services.funnel_events_create`, which answers a
    # result per item (an invalid item is an error row, the others are recorded). EventItemSerializer documents them.
    events = serializers.ListField(child=serializers.JSONField(), max_length=BULK_LIMIT, allow_empty=False)


class EventItemSerializer(serializers.Serializer[Any]):
    """One funnel event of `POST /api/v1/events` (the OpenAPI schema's description; validation is per item)."""

    email = serializers.EmailField(required=False, help_text="The contact's email (or contact_id).")
    contact_id = serializers.IntegerField(required=False, help_text="The contact's id (or email).")
    funnel_type = serializers.ChoiceField(choices=FunnelEvent.FunnelType.choices, default="sales")
    from_stage = serializers.CharField(required=False, max_length=100, allow_blank=True)
    to_stage = serializers.CharField(max_length=100)
    created_at = serializers.DateTimeField(required=False, help_text="When it happened (default: now).")
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=0,
        required=False,
        allow_null=True,
        help_text="What the event was worth (e.g. an order's value), in HERALD_CURRENCY; >= 0, at most 2 decimals. "
        "Reports add it up over the conversions they credit (revenue).",
    )


class EventsRequestSerializer(serializers.Serializer[Any]):
    events = EventItemSerializer(many=True, help_text=f"1 to {BULK_LIMIT} events (or send one event, or a list).")


class ItemResultSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "skipped", "error"])
    id = serializers.IntegerField(allow_null=True, required=False)
    contact_id = serializers.IntegerField(allow_null=True, required=False)
    error = serializers.CharField(required=False)


class ItemResultsSerializer(serializers.Serializer[Any]):
    results = ItemResultSerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField())
