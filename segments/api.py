"""API v1: segments CRUD, `GET /segments/{id}/contacts` (paginated) and `GET /segments/{id}/count`."""

from __future__ import annotations

import io
from typing import Any

from django.db.models import ProtectedError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from accounts.api import Conflict
from segments import selectors, services
from segments.errors import SegmentError
from segments.models import Segment
from segments.serializers import (
    MembersAddSerializer,
    MembersResultSerializer,
    SegmentContactSerializer,
    SegmentContactsPageSerializer,
    SegmentCountSerializer,
    SegmentSerializer,
)

CONTACTS_PAGE_SIZE = 50
MAX_PAGE = 10**9


class SegmentViewSet(viewsets.ModelViewSet):
    serializer_class = SegmentSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.segment_list(search=params.get("search", ""), type=params.get("type", ""))

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.segment_create(user=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.segment_update(
            segment=serializer.instance, user=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance: Segment) -> None:
        try:
            services.segment_delete(segment=instance, user=self.request.user)
        except ProtectedError as exc:
            raise Conflict("The segment is the audience of a campaign or automation; it cannot be deleted.") from exc

    @extend_schema(responses=SegmentCountSerializer)
    @action(detail=True, methods=["get"])
    def count(self, request: Request, pk: str | None = None) -> Response:
        segment = self.get_object()
        try:
            return Response({"count": selectors.segment_count(segment=segment)})
        except SegmentError as exc:
            raise ValidationError({"detail": str(exc)}) from exc

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "page",
                OpenApiTypes.INT,
                description=f"1-based page of 50 contacts ordered by id (at most {MAX_PAGE:,})",
            )
        ],
        responses=SegmentContactsPageSerializer,
    )
    @action(detail=True, methods=["get"])
    def contacts(self, request: Request, pk: str | None = None) -> Response:
        segment = self.get_object()
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            raise ValidationError({"page": ["A page number."]}) from None
        if not 1 <= page <= MAX_PAGE:
            # The offset must fit PostgreSQL's bigint; no audience has a billion pages.
            raise ValidationError({"page": [f"A page number from 1 to {MAX_PAGE:,}."]})
        try:
            total = selectors.segment_count(segment=segment)
            rows = selectors.segment_contacts_slice(
                segment=segment, offset=(page - 1) * CONTACTS_PAGE_SIZE, limit=CONTACTS_PAGE_SIZE
            )
        except SegmentError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        url = request.build_absolute_uri()
        return Response(
            {
                "count": total,
                "next": replace_query_param(url, "page", page + 1) if page * CONTACTS_PAGE_SIZE < total else None,
                "previous": replace_query_param(url, "page", page - 1) if page > 1 else None,
                "results": SegmentContactSerializer(rows, many=True).data,
            }
        )

    @extend_schema(request=MembersAddSerializer, responses=MembersResultSerializer)
    @action(detail=True, methods=["post"])
    def members(self, request: Request, pk: str | None = None) -> Response:
        """Add members to a manual segment: `contact_ids` and/or `emails` (JSON), or a CSV `file` (multipart)."""
        segment = self.get_object()
        data = MembersAddSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        source: Any = values.get("file")
        if source is None:
            keys = [str(i) for i in values["contact_ids"]] + [e.strip() for e in values["emails"]]
            if not keys:
                raise ValidationError({"contact_ids": "Give contact_ids, emails or a file."})
            source = io.StringIO("\n".join(keys))
        result = services.segment_members_upload(
            segment=segment, user=request.user, file=source, replace=values["replace"]
        )
        return Response(
            {
                "rows": result.rows,
                "matched": result.matched,
                "added": result.added,
                "removed": result.removed,
                "not_found": result.not_found,
            }
        )
