"""Function segments: audiences computed by code, registered here and chosen from a dropdown.

A handler takes no arguments and returns a QuerySet of contact ids (`values_list("id", flat=True)` or
`values("contact_id")` on any table). It must stay a query, never a Python list: the send engine embeds it in
an `INSERT ... SELECT`. Users only ever pick a registered *name*; no dotted path typed by a user is imported
(ARCHITECTURE §7).

    @segment_function("recently_active", label="Recently active (funnel event in the last 30 days)")
    def recently_active() -> QuerySet:
        ...
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import FunnelEvent

Handler = Callable[[], QuerySet]


@dataclass(frozen=True)
class SegmentFunction:
    name: str
    label: str
    description: str
    handler: Handler


_registry: dict[str, SegmentFunction] = {}


def segment_function(name: str, *, label: str, description: str = "") -> Callable[[Handler], Handler]:
    """Register `handler` under `name` (the value stored in `Segment.handler_function`)."""

    def register(handler: Handler) -> Handler:
        if name in _registry and _registry[name].handler is not handler:
            raise ValueError(f"Segment function {name!r} is already registered.")
        _registry[name] = SegmentFunction(
            name=name, label=label, description=description or (handler.__doc__ or "").strip(), handler=handler
        )
        return handler

    return register


def get_segment_function(name: str) -> SegmentFunction | None:
    return _registry.get(name)


def registered_functions() -> list[SegmentFunction]:
    return sorted(_registry.values(), key=lambda f: f.label.lower())


def function_choices() -> list[tuple[str, str]]:
    return [(f.name, f.label) for f in registered_functions()]


# --- shipped handlers -----------------------------------------------------------------------------------


@segment_function("recently_active", label="Recently active: a funnel event in the last 30 days")
def recently_active() -> QuerySet:
    """Contacts with at least one funnel event (any funnel, any stage) in the last 30 days."""
    since = timezone.now() - dt.timedelta(days=30)
    return FunnelEvent.objects.filter(created_at__gte=since).values("contact_id")
