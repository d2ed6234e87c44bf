"""Reads owned by accounts: API keys."""

from __future__ import annotations

import hmac
from typing import Any

from django.db.models import QuerySet

from accounts import roles
from accounts.models import ApiKey

KEY_PREFIX = "hk_"


def api_keys_visible_to(user: Any) -> QuerySet[ApiKey]:
    """A user manages their own keys; Admins see everyone's."""
    keys = ApiKey.objects.select_related("owner")
    return keys if roles.is_admin(user) else keys.filter(owner=user)


def api_key_for_raw(*, raw: str) -> ApiKey | None:
    """The active key whose secret this is, or None. The prefix finds the row; the hash comparison is
    constant-time, so timing does not tell how much of a guessed key was right."""
    if not raw.startswith(KEY_PREFIX) or "." not in raw:
        return None
    prefix = raw[len(KEY_PREFIX) :].split(".", 1)[0]
    key = ApiKey.objects.active().select_related("owner").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.hashed_secret, ApiKey.hash_raw(raw)):
        return None
    return key


def api_key_active_by_id(*, key_id: Any) -> ApiKey | None:
    try:
        return ApiKey.objects.active().select_related("owner").filter(pk=int(key_id)).first()
    except (TypeError, ValueError):
        return None
