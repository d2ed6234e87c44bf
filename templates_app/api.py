"""API v1: message templates CRUD under /api/v1/templates, plus a render preview."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api import Conflict
from templates_app import selectors, services
from templates_app.models import MessageTemplate
from templates_app.rendering import TemplateError
from templates_app.serializers import MessageTemplateSerializer, RenderedSerializer, RenderRequestSerializer


class MessageTemplateViewSet(viewsets.ModelViewSet):
    serializer_class = MessageTemplateSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.template_list(
            search=params.get("search", ""),
            channel=params.get("channel", ""),
            templating_type=params.get("templating_type", ""),
        )

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.template_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.template_update(template=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: MessageTemplate) -> None:
        try:
            services.template_delete(template=instance)
        except services.TemplateInUse as exc:
            raise Conflict(str(exc)) from exc

    @extend_schema(request=RenderRequestSerializer, responses=RenderedSerializer)
    @action(detail=True, methods=["get"], url_path="render")
    def rendered(self, request: Request, pk: str | None = None) -> Response:
        """The template rendered as a contact (`?contact=<id or email>`), or for an anonymous reader."""
        template = self.get_object()
        key = request.query_params.get("contact", "")
        contact = selectors.preview_contact(key=key)
        if key and contact is None:
            raise NotFound(f"No contact {key!r}.")
        try:
            rendered = services.template_render_preview(
                subject=template.subject, body=template.message, templating=template.templating_type, contact=contact
            )
        except TemplateError as exc:
            raise ValidationError({"message": str(exc)}) from exc
        return Response({"subject": rendered.subject, "html": rendered.html, "text": rendered.text})
