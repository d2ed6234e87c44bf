"""Dashboard pages: customers (list, add, edit, (un/re)subscribe, delete, export), funnel events (read-only, as
seed 003 says) and CSV imports."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import roles
from accounts.permissions import editor_required
from accounts.security import client_ip
from contacts import csv_export, selectors, services
from contacts.forms import ContactForm, ImportUploadForm
from contacts.models import Batch, Contact, FunnelEvent, ImportJob


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


def _contact_filters(request: HttpRequest) -> tuple[str, str]:
    """The list's search and status filter, shared by the page and its export."""
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    return q, status if status in Contact.Status.values else ""


@login_required
@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    q, status = _contact_filters(request)
    qs = selectors.contact_search(search=q, status=status)
    page = selectors.keyset_page(qs, after=_int_param(request, "after"), before=_int_param(request, "before"))
    total, exact = selectors.estimated_total(qs, filtered=bool(q or status))
    return render(
        request,
        "contacts/contact_list.html",
        {"page": page, "q": q, "status": status, "statuses": Contact.Status.choices, "total": total, "exact": exact},
    )


@login_required
@require_GET
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        contact = selectors.contact_detail(contact_id=pk)
    except Contact.DoesNotExist:
        raise Http404("No such customer.") from None
    return render(
        request,
        "contacts/contact_detail.html",
        {
            "contact": contact,
            "events": selectors.contact_events(contact_id=pk),
            "consent": selectors.contact_consent(contact_id=pk),
            "batches": contact.batches.order_by("-id")[:20],
        },
    )


@login_required
@require_GET
def contact_export(request: HttpRequest) -> StreamingHttpResponse:
    """The currently filtered customer list as CSV, streamed row by row (any size, flat memory)."""
    q, status = _contact_filters(request)
    rows = selectors.contact_export_rows(selectors.contact_search(search=q, status=status))
    response = StreamingHttpResponse(csv_export.stream(selectors.EXPORT_HEADER, rows), content_type="text/csv")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    return response


def _get_contact(pk: int) -> Contact:
    return get_object_or_404(Contact, pk=pk)


def _apply_errors(form: ContactForm, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        form.add_error(name if name in form.fields else None, errors)


@editor_required
@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.contact_create(
                **{f: form.cleaned_data[f] for f in services.CONTACT_EDITABLE_FIELDS}, ip=client_ip(request)
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Customer {contact.email} added.")
            return redirect("contacts:detail", pk=contact.pk)
    return render(request, "contacts/contact_form.html", {"form": form, "contact": None})


@editor_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _get_contact(pk)
    # The form gets its own copy: validating writes the cleaned values onto its instance, and the page title and
    # the service keep the stored ones.
    form = ContactForm(request.POST or None, instance=Contact.objects.get(pk=pk))
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in services.CONTACT_EDITABLE_FIELDS}
        try:
            updated = services.contact_update(contact=contact, **changes)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Customer {updated.email} saved.")
            return redirect("contacts:detail", pk=updated.pk)
    return render(request, "contacts/contact_form.html", {"form": form, "contact": contact})


@editor_required
@require_POST
def contact_unsubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _get_contact(pk)
    if services.contact_unsubscribe(contact_id=contact.pk, ip=client_ip(request)):
        messages.success(request, f"{contact.email} is unsubscribed: no campaign will email them.")
    else:
        messages.info(request, f"{contact.email} was not subscribed; nothing changed.")
    return redirect("contacts:detail", pk=contact.pk)


@editor_required
@require_POST
def contact_resubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _get_contact(pk)
    if services.contact_resubscribe(contact_id=contact.pk, ip=client_ip(request)):
        messages.success(request, f"{contact.email} is subscribed again.")
    elif contact.status == Contact.Status.SUBSCRIBED:
        messages.info(request, f"{contact.email} is already subscribed; nothing changed.")
    else:
        messages.error(
            request,
            f"{contact.email} is {contact.get_status_display().lower()}; only unsubscribed customers can be resubscribed.",
        )
    return redirect("contacts:detail", pk=contact.pk)


@editor_required
@require_POST
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = _get_contact(pk)
    services.contact_delete(contact_id=contact.pk)
    messages.success(request, f"Customer {contact.email} deleted.")
    return redirect("contacts:list")


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    funnel_type = request.GET.get("funnel_type", "")
    if funnel_type not in FunnelEvent.FunnelType.values:
        funnel_type = ""
    stage = request.GET.get("stage", "").strip()
    qs = selectors.funnel_event_search(search=q, funnel_type=funnel_type, stage=stage)
    page = selectors.keyset_page(
        qs, after=_int_param(request, "after"), before=_int_param(request, "before"), related=["contact"]
    )
    return render(
        request,
        "contacts/event_list.html",
        {
            "page": page,
            "q": q,
            "funnel_type": funnel_type,
            "stage": stage,
            "funnel_types": FunnelEvent.FunnelType.choices,
        },
    )


@login_required
@require_GET
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(FunnelEvent.objects.select_related("contact"), pk=pk)
    return render(request, "contacts/event_detail.html", {"event": event})


@login_required
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _import_upload(request)
    page = Paginator(selectors.import_job_list(), 25).get_page(request.GET.get("page"))
    form = ImportUploadForm() if roles.can_edit(request.user) else None
    return render(request, "contacts/import_list.html", {"page": page, "form": form})


@editor_required
def _import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        page = Paginator(selectors.import_job_list(), 25).get_page(1)
        return render(request, "contacts/import_list.html", {"page": page, "form": form}, status=400)
    upload = form.cleaned_data["file"]
    batch = form.cleaned_data["batch"]
    if form.cleaned_data["new_batch_name"]:
        batch = services.batch_create(name=form.cleaned_data["new_batch_name"], source=Batch.Source.UPLOAD)
    job = services.import_job_create(
        file=upload, original_name=upload.name, kind=form.cleaned_data["kind"], batch=batch, user=request.user
    )
    messages.success(request, f"“{job.original_name}” is queued for import.")
    return redirect("contacts:import-detail", pk=job.pk)


@login_required
@require_GET
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob.objects.select_related("batch", "created_by"), pk=pk)
    return render(request, "contacts/import_detail.html", _import_context(job))


@login_required
@require_GET
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress partial the detail page polls (HTMX, every second while the job runs)."""
    job = get_object_or_404(ImportJob, pk=pk)
    return render(request, "contacts/_import_progress.html", _import_context(job))


def _import_context(job: ImportJob) -> dict[str, object]:
    # The error list is part of the polled partial, so it appears the moment the job finishes, without a reload.
    errors = selectors.import_job_errors(job=job) if job.is_finished else []
    return {"job": job, "import_errors": errors, "errors_shown_limit": selectors.IMPORT_ERRORS_SHOWN}


@login_required
@require_GET
def import_errors(request: HttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    if not job.error_report:
        raise Http404("This import has no errors.")
    return FileResponse(
        job.error_report.open("rb"), as_attachment=True, filename=f"import-{job.pk}-errors.csv", content_type="text/csv"
    )
