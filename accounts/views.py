from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts import forms, roles, selectors, services
from accounts.audit import change_rows
from accounts.permissions import admin_required


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The user's notifications; the ones on this page count as read once shown (still marked new this time)."""
    page = Paginator(request.user.notifications.all(), 30).get_page(request.GET.get("page"))  # type: ignore[union-attr]
    shown = list(page.object_list)
    services.notifications_mark_read(user=request.user, ids=[n.pk for n in shown if n.read_at is None])
    return render(request, "accounts/notifications.html", {"page": page, "notifications": shown})


@login_required
@require_POST
def notification_mark_read(request: HttpRequest) -> HttpResponse:
    services.notifications_mark_read(user=request.user)
    return redirect("accounts:notifications")


@login_required
def api_key_list(request: HttpRequest) -> HttpResponse:
    """The user's API keys (every user's for an Admin) and the form for a new one."""
    return _api_keys_page(request, form=forms.ApiKeyForm(user=request.user))


def _api_keys_page(
    request: HttpRequest, *, form: forms.ApiKeyForm, new_key: str = "", status: int = 200
) -> HttpResponse:
    page = Paginator(selectors.api_keys_visible_to(request.user), 50).get_page(request.GET.get("page"))
    context = {"page": page, "form": form, "new_key": new_key, "show_owner": roles.is_admin(request.user)}
    return render(request, "accounts/api_keys.html", context, status=status)


@login_required
@require_POST
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = forms.ApiKeyForm(request.POST, user=request.user)
    if not form.is_valid():
        return _api_keys_page(request, form=form, status=400)
    try:
        key, raw = services.api_key_create(
            owner=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=form.expires_at(),
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _api_keys_page(request, form=form, status=400)
    # Shown in this response only (no redirect, no session copy): the key is stored nowhere but as a hash.
    messages.success(request, f"API key “{key.name}” created. Copy it now: it will not be shown again.")
    return _api_keys_page(request, form=forms.ApiKeyForm(user=request.user), new_key=raw, status=201)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(selectors.api_keys_visible_to(request.user), pk=key_id)
    if services.api_key_revoke(key=key):
        messages.success(request, f"API key “{key.name}” revoked.")
    else:
        messages.info(request, f"API key “{key.name}” was already revoked.")
    return redirect("accounts:api-keys")


@admin_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who changed what (campaigns, scenarios, segments, templates, automations, roles, API keys): Admins only."""
    form = forms.AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    entries = selectors.audit_entries(
        content_type_id=filters.get("model"),
        action=filters.get("action"),
        actor=filters.get("actor") or "",
        object_id=filters.get("object_id") or "",
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    rows = [(entry, change_rows(entry)) for entry in page.object_list]
    return render(request, "accounts/audit_log.html", {"page": page, "rows": rows, "form": form})
