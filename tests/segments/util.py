"""Typed helpers for the segments and templates tests."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django.utils import timezone

from contacts.models import Contact, ContactAttribute, FunnelEvent
from tests.factories import ContactFactory


def make_contact(**kwargs: Any) -> Contact:
    return cast(Contact, ContactFactory(**kwargs))


def set_attribute(contact: Contact, name: str, field_type: str, value: Any) -> ContactAttribute:
    return ContactAttribute.objects.create(contact=contact, field_name=name, field_type=field_type, field_value=value)


def add_event(
    contact: Contact, to_stage: str, *, days_ago: int = 0, funnel: str = "sales", from_stage: str = ""
) -> None:
    FunnelEvent.objects.create(
        contact=contact,
        funnel_type=funnel,
        from_stage=from_stage,
        to_stage=to_stage,
        created_at=timezone.now() - dt.timedelta(days=days_ago),
    )
