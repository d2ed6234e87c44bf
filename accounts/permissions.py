from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts import roles


def request_scope(request: Any) -> str | None:
    """The scope of the API key (or of the JWT made from one) that authenticated the request; None for a DRF token
    or the browser's session, which act with the user's full role."""
    auth = getattr(request, "auth", None)
    scope = getattr(auth, "scope", None)
    if scope is None and auth is not None and hasattr(auth, "get"):
        scope = auth.get("scope")  # a simplejwt AccessToken
    return scope if scope in roles.SCOPE_RANK else None


def scope_allows(scope: str | None, method: str) -> bool:
    """read: safe methods only; write and admin: every method (admin-only endpoints also check AdminOnlyPermission)."""
    return scope is None or method in SAFE_METHODS or roles.SCOPE_RANK[scope] >= roles.SCOPE_RANK["write"]


class RolePermission(BasePermission):
    """API: any signed-in role reads; only Admins and Campaign Managers write; a key's scope narrows that further."""

    def has_permission(self, request: Any, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not scope_allows(request_scope(request), request.method):
            return False
        if request.method in SAFE_METHODS:
            return True
        return roles.can_edit(request.user)


class AdminOnlyPermission(BasePermission):
    """Admin-only endpoints: an Admin's session or token, or a key with the admin scope."""

    def has_permission(self, request: Any, view: Any) -> bool:
        scope = request_scope(request)
        return bool(request.user and roles.is_admin(request.user) and scope in (None, "admin"))


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


class ApiDocsPermission(BasePermission):
    """The OpenAPI schema (drf-spectacular's SERVE_PERMISSIONS): public when API_DOCS_PUBLIC, else any signed-in
    user (session, token, API key or JWT). The schema maps every endpoint and field: no help to an outsider."""

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(settings.API_DOCS_PUBLIC or (request.user and request.user.is_authenticated))


def api_docs_login(view: ViewFunc) -> ViewFunc:
    """The docs page sends a signed-out browser to the login page (not a bare 403) unless API_DOCS_PUBLIC."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.API_DOCS_PUBLIC and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped
