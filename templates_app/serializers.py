from __future__ import annotations

from typing import Any

from rest_framework import serializers

from templates_app.models import MessageTemplate


class MessageTemplateSerializer(serializers.ModelSerializer):
    created_by: Any = serializers.StringRelatedField(read_only=True)

    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "name",
            "channel",
            "templating_type",
            "subject",
            "message",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]
        extra_kwargs = {"subject": {"required": False, "allow_blank": True}}


class RenderRequestSerializer(serializers.Serializer):
    contact = serializers.CharField(required=False, allow_blank=True, help_text="Contact id or email.")


class RenderedSerializer(serializers.Serializer):
    subject = serializers.CharField()
    html = serializers.CharField()
    text = serializers.CharField()
