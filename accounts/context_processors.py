from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts import roles


def herald(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {}
    return {
        "can_edit": roles.can_edit(user),
        "is_admin": roles.is_admin(user),
        "role_name": roles.role_name(user),
        "unread_notifications": user.notifications.filter(read_at__isnull=True).count(),  # type: ignore[attr-defined]
    }
