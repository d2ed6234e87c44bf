"""API v1 for campaigns and scenarios (ARCHITECTURE §5). Thin: parse, call one service or selector, format.

Roles come from the project default (`accounts.permissions.RolePermission`): every role reads, Viewers change
nothing (403). State conflicts (editing a sent scenario, pausing a draft) are 409 with the reason.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiRequest, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import Conflict
from campaigns import selectors, services
from campaigns.models import Campaign, Scenario
from campaigns.serializers import (
    CampaignSerializer,
    ContactRowSerializer,
    ContactUploadSerializer,
    ScenarioSendSerializer,
    ScenarioSerializer,
)
from contacts.models import ImportJob
from contacts.serializers import ImportJobSerializer

MAX_JSON_CONTACTS = 10_000


def _changed(instance: Any, data: dict[str, Any]) -> dict[str, Any]:
    return {field: value for field, value in data.items() if getattr(instance, field) != value}


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Name or description contains"),
            OpenApiParameter("status", str, enum=Campaign.Status.values),
        ]
    )
)
class CampaignViewSet(viewsets.ModelViewSet):
    """Campaigns: a timeline and an audience (its batch, created with it, or a segment)."""

    serializer_class = CampaignSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Campaign]:
        params = self.request.query_params
        return selectors.campaign_list(
            search=params.get("search", ""), status=params.get("status", ""), user=self.request.user
        )

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.campaign_create(**data, user=self.request.user)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        campaign = serializer.instance
        assert isinstance(campaign, Campaign)
        changes = _changed(campaign, dict(serializer.validated_data))
        if changes:
            services.campaign_update(campaign=campaign, **changes)
        serializer.instance = selectors.campaign_get(campaign_id=campaign.pk)

    def perform_destroy(self, instance: Campaign) -> None:
        try:
            services.campaign_delete(campaign_id=instance.pk)
        except services.ScenarioStateError as exc:
            raise Conflict(str(exc)) from exc

    @extend_schema(
        request={
            "multipart/form-data": ContactUploadSerializer,
            "application/json": OpenApiRequest(ContactRowSerializer(many=True)),
        },
        responses={201: ImportJobSerializer, 202: ImportJobSerializer},
        description="Import contacts into the campaign's batch: a CSV file (multipart `file`) or a JSON list of "
        "`{email, name | first_name, last_name, mobile}`. Up to 1 MB is imported at once (201 with the counts); "
        "a bigger file is left to a worker (202 with the pending job; follow it at `/imports/{id}`). A file that "
        "cannot be imported as a whole (no email column) is 400 with the reason, and nothing is imported.",
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser, FormParser, JSONParser])
    def contacts(self, request: Request, pk: str | None = None) -> Response:
        campaign = self.get_object()
        if isinstance(request.data, list):
            job = services.campaign_contacts_upsert(
                campaign=campaign, items=_json_rows(request.data), user=request.user
            )
        else:
            form = ContactUploadSerializer(data=request.data)
            form.is_valid(raise_exception=True)
            upload = form.validated_data["file"]
            job = services.campaign_contacts_import(
                campaign=campaign, file=upload, original_name=upload.name or "", user=request.user
            )
        if job.status == ImportJob.Status.FAILED:
            # The file as a whole was refused (no email column, not a CSV): nothing was imported.
            raise ValidationError({"file": [job.message], "import_job": [str(job.pk)]})
        code = status.HTTP_201_CREATED if job.is_finished else status.HTTP_202_ACCEPTED
        return Response(ImportJobSerializer(job, context={"request": request}).data, status=code)


def _json_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """A JSON upload's contacts, checked for shape (a wrong item refuses the request, as before); the import's
    direct path then applies the same rules as to a file's rows (name split, email checks, counts)."""
    if not rows:
        raise ValidationError({"non_field_errors": ["Send at least one contact."]})
    if len(rows) > MAX_JSON_CONTACTS:
        raise ValidationError(
            {"non_field_errors": [f"At most {MAX_JSON_CONTACTS} contacts per request; upload a CSV."]}
        )
    parsed = ContactRowSerializer(data=rows, many=True)
    parsed.is_valid(raise_exception=True)
    return [dict(row) for row in parsed.validated_data]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("campaign", int),
            OpenApiParameter("status", str, enum=Scenario.Status.values),
            OpenApiParameter("search", str, description="Subject or campaign name contains"),
        ]
    )
)
class ScenarioViewSet(viewsets.ModelViewSet):
    """Scenarios: one message of a campaign at a date and time. Editable only while draft or scheduled."""

    serializer_class = ScenarioSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Scenario]:
        params = self.request.query_params
        campaign = params.get("campaign", "")
        if campaign and not campaign.isdigit():
            raise ValidationError({"campaign": ["A campaign id is a number."]})
        return selectors.scenario_list(
            campaign_id=int(campaign) if campaign else None,
            status=params.get("status", ""),
            search=params.get("search", ""),
            user=self.request.user,
        )

    def get_serializer_context(self) -> dict[str, Any]:
        # Progress is one read per scenario: on detail and action answers, not on list pages.
        return {**super().get_serializer_context(), "with_progress": self.action != "list"}

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        if not selectors.campaigns_visible_to(self.request.user).filter(pk=data["campaign"].pk).exists():
            raise ValidationError({"campaign": ["No such campaign."]})  # CAMPAIGN_OWNERSHIP_ONLY: not theirs
        serializer.instance = services.scenario_create(**data, user=self.request.user)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        scenario = serializer.instance
        assert isinstance(scenario, Scenario)
        data = dict(serializer.validated_data)
        draft = data.pop("draft", None)
        try:
            serializer.instance = services.scenario_update(scenario=scenario, draft=draft, **_changed(scenario, data))
        except services.ScenarioStateError as exc:
            raise Conflict(str(exc)) from exc

    def perform_destroy(self, instance: Scenario) -> None:
        try:
            services.scenario_delete(scenario_id=instance.pk)
        except services.ScenarioStateError as exc:
            raise Conflict(str(exc)) from exc

    def _act(self, request: Request, name: str, **kwargs: Any) -> Response:
        scenario = self.get_object()
        try:
            if name == "send":
                scenario = services.scenario_send(scenario_id=scenario.pk, user=request.user, **kwargs)
            else:
                scenario = services.scenario_action(scenario_id=scenario.pk, action=name, user=request.user)
        except services.ScenarioStateError as exc:
            raise Conflict(str(exc)) from exc
        return Response(self.get_serializer(scenario).data)

    @extend_schema(
        request=ScenarioSendSerializer,
        responses=ScenarioSerializer,
        description="`at` null or absent: send now (→ sending). An ISO datetime: schedule (→ scheduled).",
    )
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: str | None = None) -> Response:
        body = ScenarioSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._act(request, "send", at=body.validated_data.get("at"))

    @extend_schema(request=None, responses=ScenarioSerializer, description="Pause a sending scenario.")
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "pause")

    @extend_schema(request=None, responses=ScenarioSerializer, description="Resume a paused scenario.")
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "resume")

    @extend_schema(request=None, responses=ScenarioSerializer, description="Cancel: nothing more is sent.")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "cancel")

    @extend_schema(request=None, responses=ScenarioSerializer, description="Send the failed recipients again.")
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "retry")
