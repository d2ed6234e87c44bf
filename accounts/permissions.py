from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts import roles


class RolePermission(BasePermission):
    """API: any signed-in role reads; only Admins and Campaign Managers write."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return roles.can_edit(request.user)


class AdminOnlyPermission(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and roles.is_admin(request.user))


ViewFunc = Callable[..., HttpResponse]


def editor_required(view: ViewFunc) -> ViewFunc:
    """Dashboard views that change data: login, then the Admin or Campaign Manager role."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.can_edit(request.user):
            raise PermissionDenied("Your role (Viewer) can look but not change anything.")
        return view(request, *args, **kwargs)

    return wrapped


def admin_required(view: ViewFunc) -> ViewFunc:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.is_admin(request.user):
            raise PermissionDenied("Only Admins can do this.")
        return view(request, *args, **kwargs)

    return wrapped
