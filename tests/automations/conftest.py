from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.models import User

from automations import services
from automations.models import Automation
from contacts.models import Contact
from segments.models import Segment, SegmentMember
from templates_app.models import MessageTemplate
from tests.broker import purge_broker

# A Monday, 09:30 UTC: "30 9 * * 1-5" is due exactly now.
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
BODY = '<p>Hello {{ first_name|default:"there" }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    """Page messages enqueued by a run do not leak between tests."""

    purge_broker(settings.REDIS_URL)
    yield
    purge_broker(settings.REDIS_URL)


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def make_contacts(n: int, *, prefix: str = "a") -> list[Contact]:
    return Contact.objects.bulk_create(
        [Contact(email=f"{prefix}{i}@example.com", first_name=f"First{i}") for i in range(n)]
    )


def make_segment(contacts: list[Contact], name: str = "Members") -> Segment:
    segment = Segment.objects.create(name=name, type=Segment.Type.MANUAL)
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=c) for c in contacts])
    return segment


def make_template(*, channel: str = MessageTemplate.Channel.EMAIL, message: str = BODY) -> MessageTemplate:
    return MessageTemplate.objects.create(
        name=f"T {channel}",
        channel=channel,
        templating_type=MessageTemplate.TemplatingType.HTML,
        subject="Hi {{ first_name|default:'there' }}",
        message=message,
    )


@pytest.fixture
def segment(db: None) -> Segment:
    return make_segment(make_contacts(3))


@pytest.fixture
def template(db: None) -> MessageTemplate:
    return make_template()


def make_automation(segment: Segment, template: MessageTemplate, user: User | None = None, **kwargs: Any) -> Automation:
    data: dict[str, Any] = {"name": "Weekday news", "cron": "30 9 * * 1-5", "timezone": "UTC"} | kwargs
    return services.automation_create(segment=segment, template=template, user=user, **data)


@pytest.fixture
def automation(segment: Segment, template: MessageTemplate, manager: User) -> Automation:
    return make_automation(segment, template, manager)
