"""Writes owned by accounts: notifications to users."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Notification

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
