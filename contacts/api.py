"""JSON API v1 for contacts, funnel events and imports: parse, call one service or selector, format."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.security import client_ip
from contacts import selectors, services
from contacts.models import Contact, ImportJob
from contacts.serializers import (
    BulkContactsSerializer,
    ContactDetailSerializer,
    ContactSerializer,
    EventsRequestSerializer,
    EventsSerializer,
    ImportCreateSerializer,
    ImportJobSerializer,
    ItemResultsSerializer,
)


class NewestFirst(CursorPagination):
    """Keyset pages by id: constant cost at any depth, and no COUNT(*)."""

    ordering = "-id"
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"


class ContactList(generics.ListAPIView[Contact]):
    """Search contacts: `search` (email, name or lead id prefix), `status`; cursor-paginated, newest first."""

    serializer_class = ContactSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[Contact]:
        params = self.request.query_params
        return selectors.contact_search(search=params.get("search", ""), status=params.get("status", ""))


class ContactDetail(APIView):
    @extend_schema(responses=ContactDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        try:
            contact = selectors.contact_detail(contact_id=pk)
        except Contact.DoesNotExist:
            return Response({"detail": "No such contact."}, status=status.HTTP_404_NOT_FOUND)
        events = selectors.contact_events(contact_id=pk)
        return Response(ContactDetailSerializer(contact, context={"request": request, "events": events}).data)


class ContactBulk(APIView):
    """Upsert up to 1,000 contacts (`{"contacts": [...], "batch": id}` or a bare list); a result per item."""

    @extend_schema(request=BulkContactsSerializer, responses=ItemResultsSerializer)
    def post(self, request: Request) -> Response:
        data: Any = {"contacts": request.data} if isinstance(request.data, list) else request.data
        serializer = BulkContactsSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        results = services.contacts_bulk_upsert(
            items=serializer.validated_data["contacts"],
            batch=serializer.validated_data.get("batch"),
            ip=client_ip(request),
        )
        return Response({"results": results, "counts": _counts(results)})


class EventCreate(APIView):
    """Record funnel events: one object, a list, or `{"events": [...]}`; by `contact_id` or `email`."""

    @extend_schema(request=EventsRequestSerializer, responses={200: ItemResultsSerializer, 201: ItemResultsSerializer})
    def post(self, request: Request) -> Response:
        payload: Any = request.data
        if isinstance(payload, list):
            data: Any = {"events": payload}
        elif isinstance(payload, dict) and "events" in payload:
            data = payload
        else:
            data = {"events": [payload]}
        serializer = EventsSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        results = services.funnel_events_create(items=serializer.validated_data["events"])
        counts = _counts(results)
        code = status.HTTP_201_CREATED if counts.get("created") == len(results) else status.HTTP_200_OK
        return Response({"results": results, "counts": counts}, status=code)


class ImportList(generics.ListAPIView[ImportJob]):
    serializer_class = ImportJobSerializer
    pagination_class = NewestFirst

    def get_queryset(self) -> QuerySet[ImportJob]:
        return selectors.import_job_list()

    @extend_schema(request=ImportCreateSerializer, responses={202: ImportJobSerializer})
    def post(self, request: Request) -> Response:
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        job = services.import_job_create(
            file=upload,
            original_name=upload.name,
            kind=serializer.validated_data["kind"],
            batch=serializer.validated_data.get("batch"),
            user=request.user,
        )
        return Response(ImportJobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class ImportDetail(generics.RetrieveAPIView[ImportJob]):
    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.all()


class ImportErrors(APIView):
    """The error report of an import as CSV (line, reason, data)."""

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request: Request, pk: int) -> FileResponse | Response:
        job = get_object_or_404(ImportJob, pk=pk)
        if not job.error_report:
            return Response({"detail": "This import has no errors."}, status=status.HTTP_404_NOT_FOUND)
        return FileResponse(
            job.error_report.open("rb"),
            as_attachment=True,
            filename=f"import-{job.pk}-errors.csv",
            content_type="text/csv",
        )


def _counts(results: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return counts
