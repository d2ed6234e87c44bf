"""Reads of message templates."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from contacts.models import Contact
from templates_app.models import MessageTemplate


def template_list(*, search: str = "", channel: str = "", templating_type: str = "") -> QuerySet[MessageTemplate]:
    qs = MessageTemplate.objects.select_related("created_by")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(subject__icontains=search))
    if channel:
        qs = qs.filter(channel=channel)
    if templating_type:
        qs = qs.filter(templating_type=templating_type)
    return qs.order_by("name", "id")


def preview_contact(*, key: str | int | None) -> Contact | None:
    """The contact to render a preview as: by id or by email (None renders for an anonymous reader)."""
    text = str(key or "").strip()
    if not text:
        return None
    if text.isdigit():
        return Contact.objects.filter(pk=int(text)).first()
    return Contact.objects.filter(email=text.lower()).first()
