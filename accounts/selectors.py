"""Reads owned by accounts: API keys, the audit log."""

from __future__ import annotations

import datetime
import hmac
from typing import Any, cast

from auditlog.models import LogEntry
from django.db.models import QuerySet

from accounts import roles
from accounts.audit import audited_content_type_ids
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


def audit_entries(
    *,
    content_type_id: int | None = None,
    action: int | None = None,
    actor: str = "",
    object_id: str = "",
    since: datetime.date | None = None,
    until: datetime.date | None = None,
) -> QuerySet[LogEntry]:
    """Audit log entries of the audited models (accounts/audit.py), newest first, narrowed by the filters given."""
    entries = LogEntry.objects.filter(content_type_id__in=audited_content_type_ids())
    if content_type_id is not None:
        entries = entries.filter(content_type_id=content_type_id)
    if action is not None:
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor__username__iexact=actor)
    if object_id:
        entries = entries.filter(object_pk=object_id)
    if since is not None:
        entries = entries.filter(timestamp__date__gte=since)
    if until is not None:
        entries = entries.filter(timestamp__date__lte=until)
    return cast("QuerySet[LogEntry]", entries.select_related("actor", "content_type").order_by("-timestamp", "-pk"))
