"""The three roles of ARCHITECTURE §7, as Django groups created by a migration."""

from __future__ import annotations

from typing import Any

ADMIN = "Admin"
CAMPAIGN_MANAGER = "Campaign Manager"
VIEWER = "Viewer"
ALL_ROLES = (ADMIN, CAMPAIGN_MANAGER, VIEWER)


def _group_names(user: Any) -> set[str]:
    cached = getattr(user, "_herald_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
        user._herald_groups = cached
    return cached


def is_admin(user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or ADMIN in _group_names(user)))


def can_edit(user: Any) -> bool:
    """Admins and Campaign Managers change things; Viewers (and users with no role) only read."""
    return is_admin(user) or bool(user.is_authenticated and CAMPAIGN_MANAGER in _group_names(user))


def role_name(user: Any) -> str:
    if is_admin(user):
        return ADMIN
    if can_edit(user):
        return CAMPAIGN_MANAGER
    return VIEWER
