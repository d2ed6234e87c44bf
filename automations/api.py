"""API v1 for automations (ARCHITECTURE §5). Thin: parse, call one service or selector, format.

Roles come from the project default (`accounts.permissions.RolePermission`): every role reads, Viewers change
nothing (403). Bad input is 400 with a message per field (the services' ValidationError).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from automations import selectors, services
from automations.models import Automation
from automations.serializers import AutomationRunRequestSerializer, AutomationRunSerializer, AutomationSerializer


def _id_param(value: str, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise ValidationError({name: [f"A {name} id is a number."]})
    return int(value)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Name or description contains"),
            OpenApiParameter("status", str, enum=[selectors.ACTIVE, selectors.PAUSED]),
            OpenApiParameter("segment", int),
            OpenApiParameter("template", int),
        ]
    )
)
class AutomationViewSet(viewsets.ModelViewSet):
    """Automations: a segment, an email template and a cron schedule (in a time zone) that send by themselves."""

    serializer_class = AutomationSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Automation]:
        params = self.request.query_params
        return selectors.automation_list(
            search=params.get("search", ""),
            status=params.get("status", ""),
            segment_id=_id_param(params.get("segment", ""), "segment"),
            template_id=_id_param(params.get("template", ""), "template"),
        )

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = services.automation_create(**dict(serializer.validated_data), user=self.request.user)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        automation = serializer.instance
        assert isinstance(automation, Automation)
        data: dict[str, Any] = dict(serializer.validated_data)
        changes = {name: value for name, value in data.items() if getattr(automation, name) != value}
        if changes:
            services.automation_update(automation=automation, **changes)
        serializer.instance = selectors.automation_get(automation_id=automation.pk)

    def perform_destroy(self, instance: Automation) -> None:
        services.automation_delete(automation_id=instance.pk)

    @extend_schema(
        request=AutomationRunRequestSerializer,
        responses={201: AutomationRunSerializer, 200: AutomationRunSerializer},
        description="Run now, through the same path as the schedule. `at` (optional) is the due time: a second "
        "call with the same due time changes nothing and answers 200 with the existing run.",
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, pk: str | None = None) -> Response:
        automation = self.get_object()
        body = AutomationRunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.automation_run_now(automation_id=automation.pk, at=body.validated_data.get("at"))
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(AutomationRunSerializer(result.run).data, status=code)

    @extend_schema(request=None, responses=AutomationSerializer, description="Pause: nothing runs until resumed.")
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        automation = services.automation_pause(
            automation_id=self.get_object().pk, reason=f"Paused by {request.user} (API)"
        )
        return Response(self.get_serializer(automation).data)

    @extend_schema(
        request=None,
        responses=AutomationSerializer,
        description="Resume (after the template's pre-send check; 400 with the reasons if it fails).",
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        automation = services.automation_resume(automation_id=self.get_object().pk)
        return Response(self.get_serializer(automation).data)

    @extend_schema(responses=AutomationRunSerializer(many=True), description="The runs, latest due time first.")
    @action(detail=True, methods=["get"])
    def runs(self, request: Request, pk: str | None = None) -> Response:
        automation = self.get_object()
        page = self.paginate_queryset(selectors.automation_runs(automation_id=automation.pk))
        return self.get_paginated_response(AutomationRunSerializer(page, many=True).data)
