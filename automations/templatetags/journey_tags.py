"""`{% contact_journeys contact %}`: the contact page's Journeys section. contacts sits below automations, so
its view cannot ask for journeys; the template includes this tag instead (a template may name any app)."""

from __future__ import annotations

from typing import Any

from django import template

from automations.journey_selectors import contact_enrollments

register = template.Library()


@register.inclusion_tag("automations/_contact_journeys.html", takes_context=True)
def contact_journeys(context: Any, contact: Any) -> dict[str, Any]:
    return {
        "enrollments": contact_enrollments(contact_id=contact.pk),
        "can_edit": context.get("can_edit", False),
        "csrf_token": context.get("csrf_token"),
        "next": context["request"].get_full_path() if context.get("request") else "",
    }
