"""API v1 for journeys (ARCHITECTURE §5): CRUD with the steps JSON, /activate, /pause, /enroll, /enrollments and
/enrollments/{id}/cancel. Thin: parse, call one service of automations.journeys, format.

Roles come from the project default (`accounts.permissions.RolePermission`): every role reads, Viewers change
nothing. Bad input is 400 with a message per field; a state that does not allow the call is 409.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from automations import journeys
from automations.journey_models import Enrollment, Journey


class JourneySerializer(serializers.ModelSerializer):
    trigger = serializers.JSONField(
        help_text='{"type": "api" | "event" | "contact_created" | "batch" | "segment", ...}'
    )
    goal = serializers.JSONField(required=False, allow_null=True, help_text='null | {"type": "event" | "segment", ...}')
    steps = serializers.JSONField(required=False, help_text="The ordered steps (ARCHITECTURE §5).")
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = Journey
        fields = [
            "id",
            "name",
            "description",
            "trigger",
            "goal",
            "reentry",
            "resume_mode",
            "timezone",
            "track_opens",
            "track_clicks",
            "status",
            "steps",
            "warnings",
            "activated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "activated_at", "created_at", "updated_at"]
        extra_kwargs = {
            "timezone": {"required": False},
            "reentry": {"required": False},
            "resume_mode": {"required": False},
        }

    def get_warnings(self, journey: Journey) -> list[str]:
        return list(getattr(journey, "activation_warnings", []))

    def to_representation(self, instance: Journey) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["steps"] = journeys.steps_to_json(instance)
        return data


class EnrollRequestSerializer(serializers.Serializer):
    contact_ids = serializers.ListField(child=serializers.JSONField(), required=False, max_length=1000)
    emails = serializers.ListField(child=serializers.CharField(), required=False, max_length=1000)


class EnrollResultSerializer(serializers.Serializer):
    contact_id = serializers.JSONField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["enrolled", "skipped", "error"])
    error = serializers.CharField(required=False)


class EnrollmentSerializer(serializers.ModelSerializer):
    email = serializers.CharField(source="contact.email", read_only=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "journey",
            "contact",
            "email",
            "status",
            "step_key",
            "next_at",
            "entered_at",
            "finished_at",
            "reason",
        ]
        read_only_fields = fields


def _conflict(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


def _status_filter(request: Request, allowed: list[str]) -> str:
    """The `?status=` filter, or "" for none; a value outside `allowed` is a 400 naming them (not a query)."""
    wanted = request.query_params.get("status", "")
    if wanted and wanted not in allowed:
        raise serializers.ValidationError({"status": [f"Unknown status. Use one of: {', '.join(allowed)}."]})
    return wanted


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("status", str, enum=Journey.Status.values)]))
class JourneyViewSet(viewsets.ModelViewSet):
    """Journeys: a trigger, ordered steps (send, wait, wait_until, branch, exit) and a goal."""

    serializer_class = JourneySerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Journey]:
        rows = Journey.objects.prefetch_related("steps").order_by("-id")
        if self.action != "list":  # `?status=` of /enrollments filters the enrollments, not the journey
            return rows
        wanted = _status_filter(self.request, Journey.Status.values)
        return rows.filter(status=wanted) if wanted else rows

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = journeys.journey_create(**dict(serializer.validated_data), user=self.request.user)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        journey = self.get_object()
        serializer = self.get_serializer(journey, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            journeys.journey_update(journey=journey, **dict(serializer.validated_data))
        except journeys.JourneyStateError as exc:
            return _conflict(exc)
        return Response(self.get_serializer(Journey.objects.get(pk=journey.pk)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        journey = self.get_object()
        if journey.status != Journey.Status.DRAFT:
            return _conflict(Exception("Only a draft journey can be deleted; archive it instead."))
        journey.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses=JourneySerializer,
        description="Activate after the checks (400 with a message naming each step that fails; `warnings` lists "
        "what is merely suspicious). Resumes a paused journey.",
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str | None = None) -> Response:
        try:
            check = journeys.journey_activate(journey_id=self.get_object().pk)
        except journeys.JourneyStateError as exc:
            return _conflict(exc)
        journey = Journey.objects.get(pk=self.get_object().pk)
        journey.activation_warnings = check.warnings  # type: ignore[attr-defined]
        return Response(self.get_serializer(journey).data)

    @extend_schema(request=None, responses=JourneySerializer, description="Hold every enrollment where it is.")
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        try:
            journeys.journey_pause(journey_id=self.get_object().pk)
        except journeys.JourneyStateError as exc:
            return _conflict(exc)
        return Response(self.get_serializer(Journey.objects.get(pk=self.get_object().pk)).data)

    @extend_schema(
        request=EnrollRequestSerializer,
        responses=EnrollResultSerializer(many=True),
        description="Enroll contacts by id or email: one result per item (ids first, then emails); an unknown "
        "contact is an error for that item only.",
    )
    @action(detail=True, methods=["post"])
    def enroll(self, request: Request, pk: str | None = None) -> Response:
        journey = self.get_object()
        body = EnrollRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            results = journeys.journey_enroll(
                journey_id=journey.pk,
                contact_ids=body.validated_data.get("contact_ids", []),
                emails=body.validated_data.get("emails", []),
            )
        except journeys.JourneyStateError as exc:
            return _conflict(exc)
        return Response({"results": results})

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=Enrollment.Status.values)],
        responses=EnrollmentSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def enrollments(self, request: Request, pk: str | None = None) -> Response:
        rows = Enrollment.objects.filter(journey=self.get_object()).select_related("contact").order_by("-id")
        wanted = _status_filter(request, Enrollment.Status.values)
        if wanted:
            rows = rows.filter(status=wanted)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(EnrollmentSerializer(page, many=True).data)


class EnrollmentViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One contact's place in a journey."""

    serializer_class = EnrollmentSerializer
    queryset = Enrollment.objects.select_related("contact")

    @extend_schema(request=None, responses=EnrollmentSerializer, description="Cancel: no further step runs.")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        enrollment = self.get_object()
        if not journeys.enrollment_cancel(enrollment_id=enrollment.pk, reason=f"cancelled by {request.user} (API)"):
            return _conflict(Exception(f"The enrollment is {enrollment.status}, not active."))
        return Response(EnrollmentSerializer(Enrollment.objects.get(pk=enrollment.pk)).data)
