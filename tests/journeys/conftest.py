from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.conf import settings

from automations import journeys
from automations.models import Journey
from contacts.models import Contact
from delivery import services as delivery_services
from delivery.models import Send
from templates_app.models import MessageTemplate
from tests.broker import purge_broker

# A Monday, 09:00 UTC.
T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
BODY = '<p>Hello {{ first_name|default:"there" }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    purge_broker(settings.REDIS_URL)
    yield
    purge_broker(settings.REDIS_URL)


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def make_template(subject: str = "Hi", message: str = BODY) -> MessageTemplate:
    return MessageTemplate.objects.create(
        name=subject,
        channel=MessageTemplate.Channel.EMAIL,
        templating_type=MessageTemplate.TemplatingType.HTML,
        subject=subject,
        message=message,
    )


def make_contacts(n: int, prefix: str = "c") -> list[Contact]:
    return Contact.objects.bulk_create(
        [Contact(email=f"{prefix}{i}@example.com", first_name=f"F{i}") for i in range(n)]
    )


def welcome(trigger: dict[str, Any] | None = None, goal: dict[str, Any] | None = None, **kwargs: Any) -> Journey:
    t1, t2, t3 = make_template("Welcome"), make_template("Day 2"), make_template("Day 5")
    journey = journeys.journey_create(
        name="Welcome",
        trigger=trigger or {"type": "api"},
        goal=goal,
        timezone="UTC",
        steps=[
            {"key": "s1", "type": "send", "template": t1.pk},
            {"key": "w1", "type": "wait", "minutes": 2 * 1440},
            {"key": "s2", "type": "send", "template": t2.pk},
            {"key": "w2", "type": "wait", "minutes": 3 * 1440},
            {"key": "s3", "type": "send", "template": t3.pk},
        ],
        **kwargs,
    )
    journeys.journey_activate(journey_id=journey.pk)
    journey.refresh_from_db()
    return journey


def send_pending() -> None:
    """What the workers do with the page messages: send every page of every sending Send (outbox transport)."""
    for send in Send.objects.filter(status=Send.Status.SENDING):
        for page in range(send.pages):
            delivery_services.page_send(send_id=send.pk, page=page)


def tick(capture: Any) -> dict[str, int]:
    """One scheduler tick of journeys, its on-commit work run, then the workers."""
    with capture(execute=True):
        result = journeys.journeys_tick()
    with capture(execute=True):
        send_pending()
    return result
