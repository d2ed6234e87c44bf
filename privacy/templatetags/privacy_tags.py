"""`{% contact_privacy contact %}`: the contact page's Privacy section (export for every role, erase for Admins).
contacts sits below privacy, so its view cannot link here; the template includes this tag instead."""

from __future__ import annotations

from typing import Any

from django import template

from accounts import roles

register = template.Library()


@register.inclusion_tag("privacy/_contact_privacy.html", takes_context=True)
def contact_privacy(context: Any, contact: Any) -> dict[str, Any]:
    request = context.get("request")
    return {"contact": contact, "is_admin": bool(request and roles.is_admin(request.user))}
