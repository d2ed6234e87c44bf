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


# The most an API key (or a JWT made from one) of each scope may do: the request's user is capped at this role, so
# every role check (API permissions, services, selectors) honours the key's scope without knowing about keys.
SCOPE_ROLE = {"read": VIEWER, "write": CAMPAIGN_MANAGER, "admin": ADMIN}
SCOPE_RANK = {"read": 0, "write": 1, "admin": 2}


def cap_role(user: Any, scope: str) -> None:
    """Limit this user object (one request's) to what `scope` allows; the row and other requests are unaffected."""
    user._herald_role_cap = SCOPE_ROLE[scope]


def _uncapped_is_admin(user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or ADMIN in _group_names(user)))


def _uncapped_can_edit(user: Any) -> bool:
    return _uncapped_is_admin(user) or bool(user.is_authenticated and CAMPAIGN_MANAGER in _group_names(user))


def is_admin(user: Any) -> bool:
    cap = getattr(user, "_herald_role_cap", ADMIN)
    return cap == ADMIN and _uncapped_is_admin(user)


def can_edit(user: Any) -> bool:
    """Admins and Campaign Managers change things; Viewers (and users with no role) only read."""
    cap = getattr(user, "_herald_role_cap", ADMIN)
    return cap in (ADMIN, CAMPAIGN_MANAGER) and _uncapped_can_edit(user)


def base_role(user: Any) -> str:
    """The user's own role, whatever the request's key allows (ownership limits follow the person, not the key)."""
    if _uncapped_is_admin(user):
        return ADMIN
    return CAMPAIGN_MANAGER if _uncapped_can_edit(user) else VIEWER


def max_scope(user: Any) -> str:
    """The widest API key scope this user's role allows (a key never does more than its owner)."""
    if _uncapped_is_admin(user):
        return "admin"
    if _uncapped_can_edit(user):
        return "write"
    return "read"


def role_name(user: Any) -> str:
    if is_admin(user):
        return ADMIN
    if can_edit(user):
        return CAMPAIGN_MANAGER
    return VIEWER
