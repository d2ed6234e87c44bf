"""The admin lists tracking events read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from delivery.models import Delivery, TrackingEvent
from tests.delivery.helpers import make_contacts, started_send

pytestmark = pytest.mark.django_db


def test_the_admin_lists_tracking_events_with_their_rule_and_cannot_change_them(admin_user: User) -> None:
    send = started_send(make_contacts(1))
    delivery = Delivery.objects.get(send=send)
    event = TrackingEvent.objects.create(
        delivery=delivery, send=send, kind="click", url="https://example.com/", classification="machine", rule="bot-ua"
    )
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(admin_user)

    listing = client.get("/admin/delivery/trackingevent/")
    change = client.post(f"/admin/delivery/trackingevent/{event.pk}/change/", {"rule": ""})

    assert listing.status_code == 200
    assert "bot-ua" in listing.content.decode()
    assert change.status_code == 403
    assert TrackingEvent.objects.get().rule == "bot-ua"
