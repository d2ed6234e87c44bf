from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import services


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
