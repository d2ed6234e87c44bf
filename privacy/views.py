"""Dashboard: a contact's data-subject export (JSON or a zip of CSVs) and its erasure (Admins, after a confirm page)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import admin_required
from contacts.models import Contact
from privacy import services


@login_required
@require_GET
def contact_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    if fmt == "csv":
        body: bytes = services.gdpr_export_zip(email=contact.email)
        response = HttpResponse(body, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="contact-{pk}-export-{stamp}.zip"'
        return response
    if fmt != "json":
        raise Http404("Unknown format.")
    payload = json.dumps(services.gdpr_export(email=contact.email), indent=2)
    response = HttpResponse(payload, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="contact-{pk}-export-{stamp}.json"'
    return response


@admin_required
@require_http_methods(["GET", "POST"])
def contact_erase(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what will be erased, and a form that asks for the address again. POST: erase."""
    contact = get_object_or_404(Contact, pk=pk)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm", "").strip().lower() == contact.email:
            report = services.gdpr_erase(email=contact.email, actor=request.user, source="admin")
            messages.success(
                request,
                f"Contact #{pk} erased ({report.total} rows changed). The address is on the suppression list; "
                "the erasure is in the audit log.",
            )
            return redirect("contacts:list")
        error = "Type the contact's email address exactly to confirm."
    return render(
        request,
        "privacy/contact_erase.html",
        {"contact": contact, "error": error},
        status=400 if error else 200,
    )
