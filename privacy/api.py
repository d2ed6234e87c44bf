"""JSON API v1: a contact's data-subject export and its erasure (Admins only)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import AdminOnlyPermission
from contacts.models import Contact
from privacy import services


class ContactExport(APIView):
    """Everything Herald holds about the contact: JSON, or `?as=csv` for a zip of CSV files."""

    @extend_schema(
        parameters=[OpenApiParameter("as", str, enum=["json", "csv"], required=False)],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The export (a zip with ?as=csv)."),
            404: OpenApiResponse(description="No such contact."),
        },
    )
    def get(self, request: Request, pk: int) -> Response | HttpResponse:
        contact = get_object_or_404(Contact, pk=pk)
        if request.query_params.get("as") == "csv":
            response = HttpResponse(services.gdpr_export_zip(email=contact.email), content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="contact-{pk}-export.zip"'
            return response
        return Response(services.gdpr_export(email=contact.email))


class ContactErase(APIView):
    """Erase the contact (docs/privacy.md): cannot be undone. Admins only."""

    permission_classes = [AdminOnlyPermission]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "ErasureReport",
                {
                    "erased": serializers.BooleanField(),
                    "contact_id": serializers.IntegerField(),
                    "email_hash": serializers.CharField(),
                    "counts": serializers.DictField(child=serializers.IntegerField()),
                },
            ),
            404: OpenApiResponse(description="No such contact."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = get_object_or_404(Contact, pk=pk)
        report = services.gdpr_erase(email=contact.email, actor=request.user, source="api")
        return Response({"erased": True, "contact_id": pk, "email_hash": report.email_hash, "counts": report.counts})
