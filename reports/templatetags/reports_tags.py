from __future__ import annotations

from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from reports.selectors import contact_deliveries

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """0.1234 -> '12.3 %'; no base -> an em dash (a rate of nothing is not 0 %)."""
    if value is None:
        return "—"
    return f"{value * 100:.1f} %"


@register.inclusion_tag("reports/_figure_card.html")
def figure_card(label: str, value: int, rate: float | None, note: str, key: str) -> dict[str, Any]:
    return {"label": label, "value": intcomma(value), "rate": rate, "note": note, "key": key}


@register.inclusion_tag("reports/_contact_deliveries.html", takes_context=True)
def contact_deliveries_section(context: dict[str, Any], contact: Any) -> dict[str, Any]:
    return {
        "rows": contact_deliveries(contact_id=contact.pk),
        "request": context.get("request"),
        "currency": context.get("currency"),
    }
