from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts import roles


def embedded_admin_password() -> str:
    """The generated `make run` password (seed_demo keeps it in var/admin_password.txt), or "" if there is none."""
    path = settings.BASE_DIR / "var" / "admin_password.txt"
    return path.read_text().strip() if path.exists() else ""


def herald(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        # Only the embedded default (config.settings.local) shows the demo login on the sign-in page: it is a
        # local, single-user install whose output scrolls the password away (issue 12). Passed as a callable, so
        # the file is read only by the page that prints it.
        context: dict[str, Any] = {"oidc_enabled": settings.OIDC_ENABLED}
        if settings.HERALD_EMBEDDED:
            context["embedded_admin_password"] = embedded_admin_password
        return context
    return {
        "can_edit": roles.can_edit(user),
        "is_admin": roles.is_admin(user),
        "role_name": roles.role_name(user),
        "currency": settings.HERALD_CURRENCY,
        "unread_notifications": user.notifications.filter(read_at__isnull=True).count(),  # type: ignore[attr-defined]
    }
