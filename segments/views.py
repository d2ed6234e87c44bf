"""Dashboard pages for segments: thin edges over `segments.selectors` and `segments.services`."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import ProtectedError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import roles
from accounts.permissions import editor_required
from contacts import selectors as contact_selectors
from contacts.models import Contact, FunnelEvent
from segments import rules as rules_mod
from segments import selectors, services
from segments.errors import SegmentError
from segments.forms import MembersUploadForm, SegmentForm
from segments.functions import registered_functions
from segments.models import Segment
from segments.rules.extensions import builder_vocabulary

PAGE_SIZE = 25


@login_required
def segment_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    type_ = request.GET.get("type", "")
    page = Paginator(selectors.segment_list(search=search, type=type_), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "segments/list.html", {"page": page, "q": search, "type": type_, "types": Segment.Type.choices}
    )


def _vocabulary() -> dict[str, Any]:
    return {
        "fields": rules_mod.CONTACT_FIELDS,
        "operators": rules_mod.OPERATORS,
        "labels": rules_mod.OPERATOR_LABELS,
        "attribute_types": list(rules_mod.ATTRIBUTE_TYPES),
        "attributes": selectors.attribute_catalog(),
        "statuses": Contact.Status.choices,
        "funnel_types": FunnelEvent.FunnelType.choices,
        "batches": contact_selectors.batch_options(limit=300),
        "extensions": builder_vocabulary(),
    }


def _evaluate(segment: Segment) -> dict[str, Any]:
    """Count, sample and SQL of a segment, or the message saying why it cannot be evaluated."""
    try:
        return {
            "count": selectors.segment_count(segment=segment),
            "sample": selectors.segment_sample(segment=segment),
            "sql": selectors.segment_sql_text(segment=segment),
        }
    except SegmentError as exc:
        return {"eval_error": str(exc)}


@login_required
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The segment, its SQL, its count and its members (keyset pages: `?after=<last id>`)."""
    segment = get_object_or_404(Segment.objects.select_related("created_by"), pk=pk)
    try:
        after = int(request.GET.get("after", "") or 0) or None
    except ValueError:
        after = None
    ctx: dict[str, Any] = {"segment": segment, "rule_lines": rules_mod.describe_rules(segment.rules)}
    try:
        ctx["members"] = selectors.segment_members_page(segment=segment, after=after)
        ctx["count"] = selectors.segment_count(segment=segment)
        ctx["sql"] = selectors.segment_sql_text(segment=segment)
    except SegmentError as exc:
        ctx["eval_error"] = str(exc)
    if segment.type == Segment.Type.MANUAL:
        ctx["upload_form"] = MembersUploadForm()
    if segment.type == Segment.Type.FUNCTION:
        ctx["function"] = next((f for f in registered_functions() if f.name == segment.handler_function), None)
    ctx["can_write"] = roles.can_edit(request.user) and (
        segment.type != Segment.Type.SQL or roles.is_admin(request.user)
    )
    return render(request, "segments/detail.html", ctx)


def _save(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    form = SegmentForm(request.POST or None, instance=segment, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in ("name", "description", "type", *services.DEFINITION_FIELDS)}
        try:
            if segment is None:
                segment = services.segment_create(user=request.user, **data)
                messages.success(request, f"Segment “{segment.name}” created.")
            else:
                fresh = Segment.objects.get(pk=segment.pk)
                segment = services.segment_update(segment=fresh, user=request.user, **data)
                messages.success(request, f"Segment “{segment.name}” saved.")
        except PermissionDenied as exc:
            form.add_error("type", str(exc))
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            return redirect("segments:detail", pk=segment.pk)
    return render(request, "segments/form.html", {"form": form, "segment": segment, "vocabulary": _vocabulary()})


@editor_required
def segment_create(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@editor_required
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if segment.type == Segment.Type.SQL and not roles.is_admin(request.user):
        raise PermissionDenied("Only Admins can edit SQL segments.")
    return _save(request, segment)


@editor_required
@require_POST
def segment_preview(request: HttpRequest) -> HttpResponse:
    """HTMX: live count, 20 sample contacts and the SQL of the definition being edited (nothing is saved)."""
    form = SegmentForm(request.POST, user=request.user)
    form.is_valid()
    ctx: dict[str, Any] = {}
    type_ = request.POST.get("type", "")
    if "rules" in form.errors:
        ctx["eval_error"] = " ".join(str(e) for e in form.errors["rules"])
    elif type_ == Segment.Type.SQL and not roles.is_admin(request.user):
        ctx["eval_error"] = "Only Admins can write and preview SQL segments."
    else:
        segment = Segment(
            name="preview",
            type=type_,
            rules=form.cleaned_data.get("rules") or {},
            selection_sql=request.POST.get("selection_sql", ""),
            handler_function=request.POST.get("handler_function", ""),
        )
        pk = request.POST.get("segment_id", "")
        if type_ == Segment.Type.MANUAL and pk.isdigit():
            segment.pk = int(pk)
        try:
            services.segment_validate_definition(segment=segment)
        except ValidationError as exc:
            ctx["eval_error"] = " ".join(m for ms in exc.message_dict.values() for m in ms)
        else:
            ctx.update(_evaluate(segment))
    return render(request, "segments/_preview.html", ctx)


@editor_required
@require_POST
def segment_upload(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    form = MembersUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a CSV file or list customer ids or emails.")
        return redirect("segments:detail", pk=pk)
    try:
        result = services.segment_members_upload(
            segment=segment, user=request.user, file=form.source(), replace=form.cleaned_data["replace"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        text = f"{result.rows:,} rows: {result.added:,} added, {result.matched - result.added:,} already members"
        if result.removed:
            text += f", {result.removed:,} previous members removed"
        if result.not_found:
            shown = ", ".join(result.not_found[:10])
            text += f"; {result.not_found_count:,} not found ({shown}{'…' if result.not_found_count > 10 else ''})"
        messages.success(request, text + ".")
    return redirect("segments:detail", pk=pk)


@editor_required
@require_POST
def segment_member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    ids = [int(v) for v in request.POST.getlist("contact") if v.isdigit()]
    removed = services.segment_members_remove(segment=segment, user=request.user, contact_ids=ids)
    messages.success(request, f"{removed} member(s) removed.")
    return redirect("segments:detail", pk=pk)


@editor_required
@require_POST
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    name = segment.name
    try:
        services.segment_delete(segment=segment, user=request.user)
    except ProtectedError:
        messages.error(request, f"“{name}” is the audience of a campaign or automation; it cannot be deleted.")
        return redirect("segments:detail", pk=pk)
    messages.success(request, f"Segment “{name}” deleted.")
    return redirect("segments:list")
