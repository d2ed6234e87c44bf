"""Conversion attribution (issue 17): which message gets the credit for a funnel event.

A funnel event moving a contact to the conversion stage at time t is credited to the LAST message that touched
the contact inside the attribution window [t - window, t]:

1. by a human click: among all the contact's deliveries, the one whose first human click (`Delivery.clicked_at`)
   is latest inside the window — a *click* conversion;
2. only when no click is in the window: the delivery that reached the contact latest inside the window
   (`delivered_at`, or `sent_at` when the provider reported no delivery; bounced or failed rows never count) —
   a *view-through* conversion, reported apart.

Every message competes, whatever its owner, so an event is credited to one delivery at most; a send counts the
events credited to its own deliveries, and its revenue is the sum of their amounts (events without one add 0). Funnel events are never written to: the credit is derived by the
queries below each time a report is computed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from contacts.models import FunnelEvent
from delivery.models import Delivery


@dataclass(frozen=True)
class Credit:
    """One funnel event credited to one delivery."""

    event_id: int
    delivery_id: int
    kind: str  # "click" or "view"
    at: dt.datetime
    amount: Decimal | None = None


def _window_start(window: dt.timedelta) -> ExpressionWrapper:
    return ExpressionWrapper(OuterRef("created_at") - window, output_field=DateTimeField())


def _last_click(window: dt.timedelta) -> QuerySet[Delivery]:
    return Delivery.objects.filter(
        contact_id=OuterRef("contact_id"),
        clicked_at__isnull=False,
        clicked_at__lte=OuterRef("created_at"),
        clicked_at__gte=_window_start(window),
    ).order_by("-clicked_at", "-id")


def _last_reach(window: dt.timedelta) -> QuerySet[Delivery]:
    return (
        Delivery.objects.annotate(reached_at=Coalesce("delivered_at", "sent_at"))
        .filter(
            contact_id=OuterRef("contact_id"),
            status__in=(Delivery.Status.SENT, Delivery.Status.COMPLAINED),
            reached_at__isnull=False,
            reached_at__lte=OuterRef("created_at"),
            reached_at__gte=_window_start(window),
        )
        .order_by("-reached_at", "-id")
    )


def credited_events(events: QuerySet[FunnelEvent], *, window: dt.timedelta) -> QuerySet[Any]:
    """`events` annotated with `click_delivery` (the delivery credited by a click, or NULL) and `view_delivery`
    (the last delivery that reached the contact in the window; it gets the credit only when `click_delivery` is
    NULL). Two correlated index lookups per event (Delivery's contact index); no loop over recipients."""
    return events.annotate(
        click_delivery=Subquery(_last_click(window).values("id")[:1]),
        view_delivery=Subquery(_last_reach(window).values("id")[:1]),
    )


def send_conversion_events(*, send_id: int, stage: str, window: dt.timedelta, since: dt.datetime) -> QuerySet[Any]:
    """The conversion-stage events of the send's recipients since it started, each with its credit annotated."""
    recipients = Delivery.objects.filter(send_id=send_id).values("contact_id")
    events = FunnelEvent.objects.filter(to_stage=stage, created_at__gte=since, contact_id__in=recipients)
    credited = credited_events(events, window=window).annotate(
        click_send=Subquery(Delivery.objects.filter(id=OuterRef("click_delivery")).values("send_id")[:1]),
        view_send=Subquery(Delivery.objects.filter(id=OuterRef("view_delivery")).values("send_id")[:1]),
    )
    return credited.filter(Q(click_send=send_id) | Q(click_delivery__isnull=True, view_send=send_id))


@dataclass(frozen=True)
class Conversions:
    """What a send converted: click and view-through conversions, and the sums of their events' amounts."""

    click: int
    view: int
    revenue: Decimal
    revenue_view: Decimal


def send_conversions(*, send_id: int, stage: str, window: dt.timedelta, since: dt.datetime) -> Conversions:
    """The conversions credited to the send and their revenue (one aggregate over the credited events)."""
    zero = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=2))
    totals = send_conversion_events(send_id=send_id, stage=stage, window=window, since=since).aggregate(
        click=Count("id", filter=Q(click_delivery__isnull=False)),
        view=Count("id", filter=Q(click_delivery__isnull=True)),
        revenue=Coalesce(Sum("amount", filter=Q(click_delivery__isnull=False)), zero),
        revenue_view=Coalesce(Sum("amount", filter=Q(click_delivery__isnull=True)), zero),
    )
    return Conversions(
        click=int(totals["click"]),
        view=int(totals["view"]),
        revenue=Decimal(totals["revenue"]),
        revenue_view=Decimal(totals["revenue_view"]),
    )


def send_credits(*, send_id: int, stage: str, window: dt.timedelta, since: dt.datetime) -> dict[int, list[Credit]]:
    """Delivery id -> the events credited to it (for the per-recipient export): as many as the send converted."""
    rows = send_conversion_events(send_id=send_id, stage=stage, window=window, since=since).values_list(
        "id", "created_at", "click_delivery", "view_delivery", "amount"
    )
    credits: dict[int, list[Credit]] = {}
    for event_id, at, click_delivery, view_delivery, amount in rows.iterator(chunk_size=2000):
        delivery_id = click_delivery or view_delivery
        kind = "click" if click_delivery else "view"
        credits.setdefault(delivery_id, []).append(Credit(event_id, delivery_id, kind, at, amount))
    return credits


def contact_credits(*, contact_id: int, stage: str, window: dt.timedelta) -> list[Credit]:
    """Every conversion-stage event of one contact with the delivery it is credited to (None: no message)."""
    events = FunnelEvent.objects.filter(contact_id=contact_id, to_stage=stage)
    rows = credited_events(events, window=window).values_list(
        "id", "created_at", "click_delivery", "view_delivery", "amount"
    )
    result = []
    for event_id, at, click_delivery, view_delivery, amount in rows:
        delivery_id = click_delivery or view_delivery
        if delivery_id:
            result.append(Credit(event_id, delivery_id, "click" if click_delivery else "view", at, amount))
    return result


__all__ = [
    "Conversions",
    "Credit",
    "contact_credits",
    "credited_events",
    "send_conversion_events",
    "send_conversions",
    "send_credits",
]
