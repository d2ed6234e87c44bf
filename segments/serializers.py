from __future__ import annotations

from typing import Any

from rest_framework import serializers

from contacts.models import Contact
from segments.models import Segment
from segments.services import MAX_ID


class SegmentSerializer(serializers.ModelSerializer):
    created_by: Any = serializers.StringRelatedField(read_only=True)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "type",
            "rules",
            "selection_sql",
            "handler_function",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]
        # The model's default (rules) would let a create without `type` through to the service, which has none.
        extra_kwargs = {"type": {"required": True}}


class SegmentContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "email", "first_name", "last_name", "mobile", "lms_lead_id", "status"]


class SegmentCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class SegmentContactsPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = SegmentContactSerializer(many=True)


class MembersAddSerializer(serializers.Serializer):
    contact_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, default=list
    )
    emails = serializers.ListField(child=serializers.CharField(max_length=254), required=False, default=list)
    file = serializers.FileField(required=False, help_text="CSV of customer ids or emails (multipart).")
    replace = serializers.BooleanField(required=False, default=False)


class MembersResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    matched = serializers.IntegerField()
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    not_found = serializers.ListField(child=serializers.CharField())
