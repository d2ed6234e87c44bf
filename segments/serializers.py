from __future__ import annotations

from typing import Any

from rest_framework import serializers

from contacts.models import Contact
from segments.models import Segment


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
    contact_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)
    emails = serializers.ListField(child=serializers.CharField(max_length=254), required=False, default=list)
    file = serializers.FileField(required=False, help_text="CSV of customer ids or emails (multipart).")
    replace = serializers.BooleanField(required=False, default=False)


class MembersResultSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    matched = serializers.IntegerField()
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    not_found = serializers.ListField(child=serializers.CharField())
