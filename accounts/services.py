"""Writes owned by accounts: notifications to users, API keys."""

from __future__ import annotations

import datetime
import logging
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import roles
from accounts.models import ApiKey, Notification

logger = logging.getLogger(__name__)


def notification_create(
    *,
    user: Any,
    title: str,
    body: str = "",
    url: str = "",
    level: str = Notification.Level.INFO,
    email: bool | None = None,
) -> Notification | None:
    """The in-app row (the bell), plus an email copy when asked or when `NOTIFY_BY_EMAIL` is on.

    The copy goes through Django's mail backend, not the send engine: it is one message to a staff member,
    not a campaign, and must not count against the campaign's rate limit or appear in its deliveries.
    Returns None when there is nobody to tell (a campaign whose creator was deleted).
    """
    if user is None:
        return None
    notification = Notification.objects.create(user=user, title=title[:200], body=body, url=url[:500], level=level)
    wants_email = settings.NOTIFY_BY_EMAIL if email is None else email
    if wants_email and user.email:
        link = f"{settings.HERALD_BASE_URL}{url}" if url.startswith("/") else url
        message = "\n\n".join(part for part in (body, link) if part)
        transaction.on_commit(lambda: _send_copy(to=user.email, subject=f"[Herald] {title}", message=message))
    return notification


def _send_copy(*, to: str, subject: str, message: str) -> None:
    try:
        send_mail(subject, message, settings.DEFAULT_FROM_EMAIL, [to])
    except Exception:  # a notification email is a courtesy: its failure must not break the state change
        logger.exception("notification email to %s failed", to)


def notifications_mark_read(*, user: Any, ids: list[int] | None = None) -> int:
    """Mark the user's unread notifications read (only `ids` when given); returns how many changed.

    Conditional on `read_at IS NULL`, so a notification keeps the time it was first read.
    """
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def api_key_create(
    *, owner: Any, name: str, scope: str, expires_at: datetime.datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for `owner`; returns the row and the key itself, which is never stored and cannot be shown again.

    A key's scope can never exceed its owner's role (a Viewer gets read keys only)."""
    if scope not in ApiKey.Scope.values:
        raise ValidationError({"scope": f"Unknown scope {scope!r}."})
    if roles.SCOPE_RANK[scope] > roles.SCOPE_RANK[roles.max_scope(owner)]:
        raise ValidationError(
            {"scope": f"A {roles.role_name(owner)} can create keys up to {roles.max_scope(owner)!r}."}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    prefix = secrets.token_hex(6)
    raw = f"hk_{prefix}.{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        owner=owner,
        name=name[:100],
        scope=scope,
        prefix=prefix,
        hashed_secret=ApiKey.hash_raw(raw),
        expires_at=expires_at,
    )
    return key, raw


def api_key_revoke(*, key: ApiKey) -> bool:
    """Revoke the key now; False when it already was (the first revocation time stays)."""
    # A locked read-then-save rather than a bare UPDATE: the save is what the audit log hears (accounts/audit.py).
    with transaction.atomic():
        row = ApiKey.objects.select_for_update().filter(pk=key.pk, revoked_at__isnull=True).first()
        if row is None:
            return False
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
    key.revoked_at = row.revoked_at
    return True


def api_key_touch(*, key: ApiKey) -> None:
    """Record use, at most once a minute per key: a write per API request would cost more than it tells."""
    now = timezone.now()
    stale = now - datetime.timedelta(seconds=60)
    ApiKey.objects.filter(pk=key.pk).filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)).update(
        last_used_at=now
    )


def user_role_set(*, user: Any, role: str) -> bool:
    """Give `user` exactly one Herald role (other groups stay); False when it already had exactly that one.

    Through the groups relation, so the audit log records the change (accounts/audit.py)."""
    wanted = Group.objects.get(name=role)
    current = set(user.groups.filter(name__in=roles.ALL_ROLES))
    if current == {wanted}:
        return False
    with transaction.atomic():
        stale = [group for group in current if group != wanted]
        if stale:
            user.groups.remove(*stale)
        if wanted not in current:
            user.groups.add(wanted)
    user.__dict__.pop("_herald_groups", None)
    return True
