from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import admin_required
from scheduler import selectors


@admin_required
def status(request: HttpRequest) -> HttpResponse:
    lines = selectors.status()
    return render(request, "scheduler/status.html", {"lines": lines, "all_ok": all(line.ok for line in lines)})
