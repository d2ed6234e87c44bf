"""A hand-counted fixture for reports: one scenario's send to six contacts, with opens, clicks, a bounce, a
complaint, a failure, an unsubscribe and funnel events. Every expected figure in the tests is counted by hand
from the rows below (see `EXPECTED`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import pytest
from django.utils import timezone

from automations.models import Automation, AutomationRun
from campaigns.models import Emailer, Scenario
from contacts.models import Contact, FunnelEvent
from delivery.models import Delivery, Send, TrackingEvent
from reports.models import UnsubscribeRecord
from tests.factories import ContactFactory, ScenarioFactory

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
HUMAN, MACHINE = TrackingEvent.Classification.HUMAN, TrackingEvent.Classification.MACHINE
OPEN, CLICK = TrackingEvent.Kind.OPEN, TrackingEvent.Kind.CLICK
LINK1, LINK2 = "https://example.com/offer", "https://example.com/faq"


def make_send(*, started_at: dt.datetime = T0, label: str = "Spring offer") -> Send:
    return Send.objects.create(label=label, subject=label, status=Send.Status.DONE, started_at=started_at)


def scenario_with_send(*, started_at: dt.datetime = T0) -> tuple[Scenario, Send]:
    scenario = cast(Scenario, ScenarioFactory(status=Scenario.Status.SENT))
    send = make_send(started_at=started_at, label=scenario.subject)
    Emailer.objects.create(
        campaign=scenario.campaign,
        scenario=scenario,
        batch=scenario.campaign.batch,
        scheduled_at=started_at,
        active=False,
        sent=True,
        send=send,
    )
    return scenario, send


def deliver(send: Send, contact: Contact, status: str = Delivery.Status.SENT, **times: Any) -> Delivery:
    sent_at = times.pop("sent_at", send.started_at if status != Delivery.Status.FAILED else None)
    return Delivery.objects.create(
        send=send, contact=contact, email=contact.email, status=status, sent_at=sent_at, **times
    )


def event(d: Delivery, kind: str, at: dt.datetime, cls: str = HUMAN, url: str = "") -> TrackingEvent:
    return TrackingEvent.objects.create(
        delivery=d, send_id=d.send_id, kind=kind, classification=cls, url=url, created_at=at
    )


def funnel(contact: Contact, at: dt.datetime, stage: str = "converted", amount: Decimal | None = None) -> FunnelEvent:
    return FunnelEvent.objects.create(
        contact=contact, funnel_type="sales", to_stage=stage, created_at=at, amount=amount
    )


EXPECTED = {
    "recipients": 6,
    "sent": 5,  # a, b, f sent + c bounced + d complained (e failed)
    "failed": 1,
    "delivered": 4,  # a, b, d, f have delivered_at
    "bounced": 1,
    "complained": 1,
    "unsubscribed": 1,  # f, through this email's link
    "opened": 2,  # a, f (human)
    "clicked": 2,  # a, f (human)
    "opened_machine": 1,  # b
    "clicked_machine": 1,  # f
    "open_events": 3,  # a twice, f once
    "click_events": 3,  # a twice, f once
    "machine_open_events": 1,
    "machine_click_events": 1,
    "conversions": 1,  # a, a day after its click
    "conversions_view": 1,  # b, two days after delivery, no click
}
# The amounts of the credited conversions: a's 120.50 after its click, b's 30.00 after delivery; a's signed_up
# (500.00, not the conversion stage) and f's 99.99 (outside the window) add nothing.
EXPECTED_REVENUE = {"revenue": Decimal("120.50"), "revenue_view": Decimal("30.00")}
EXPECTED_HOURS = [[0, 0, 1, 0, 1], [1, 2, 0, 1, 0], [2, 0, 0, 1, 0], [3, 1, 0, 0, 0], [26, 0, 0, 1, 0]]
EXPECTED_LINKS = [[LINK1, 2, 1, 0], [LINK2, 1, 1, 1]]


@dataclass
class Fixture:
    scenario: Scenario
    send: Send
    contacts: dict[str, Contact]
    deliveries: dict[str, Delivery]


@pytest.fixture
def hand_counted(db: None) -> Fixture:
    scenario, send = scenario_with_send()
    c = {name: cast(Contact, ContactFactory(email=f"{name}@example.com")) for name in "abcdef"}
    m = dt.timedelta(minutes=1)
    h = dt.timedelta(hours=1)
    d = {
        "a": deliver(send, c["a"], delivered_at=T0 + m, opened_at=T0 + h, clicked_at=T0 + 2 * h),
        "b": deliver(send, c["b"], delivered_at=T0 + m),
        "c": deliver(send, c["c"], Delivery.Status.BOUNCED),
        "d": deliver(send, c["d"], Delivery.Status.COMPLAINED, delivered_at=T0 + m),
        "e": deliver(send, c["e"], Delivery.Status.FAILED),
        "f": deliver(send, c["f"], delivered_at=T0 + m, opened_at=T0 + h, clicked_at=T0 + 90 * m),
    }
    event(d["a"], OPEN, T0 + h)
    event(d["a"], OPEN, T0 + 3 * h)
    event(d["a"], CLICK, T0 + 2 * h, url=LINK1)
    event(d["a"], CLICK, T0 + 26 * h, url=LINK1)
    event(d["b"], OPEN, T0 + 5 * m, MACHINE)
    event(d["f"], OPEN, T0 + h)
    event(d["f"], CLICK, T0 + 90 * m, url=LINK2)
    event(d["f"], CLICK, T0 + 10 * m, MACHINE, url=LINK2)
    UnsubscribeRecord.objects.create(
        delivery_id=d["f"].pk, send_id=send.pk, contact_id=c["f"].pk, created_at=T0 + 2 * h
    )
    funnel(c["a"], T0 + dt.timedelta(days=1), amount=Decimal("120.50"))
    funnel(c["a"], T0 + dt.timedelta(days=1), stage="signed_up", amount=Decimal("500"))  # not the conversion stage
    funnel(c["b"], T0 + dt.timedelta(days=2), amount=Decimal("30"))
    funnel(c["f"], T0 + dt.timedelta(days=10), amount=Decimal("99.99"))  # outside the 7-day window
    return Fixture(scenario, send, c, d)


def automation_run_with_send(*, started_at: dt.datetime = T0) -> tuple[AutomationRun, Send]:
    from segments.models import Segment
    from templates_app.models import MessageTemplate

    segment = Segment.objects.create(name="All", type="rules", rules={"op": "and", "conditions": []})
    template = MessageTemplate.objects.create(
        name="T", channel="email", templating_type="text", subject="S", message="m"
    )
    automation = Automation.objects.create(name="Weekly", segment=segment, template=template, cron="0 9 * * 1")
    send = make_send(started_at=started_at, label="Weekly run")
    run = AutomationRun.objects.create(automation=automation, due_at=started_at, status="sent", send=send)
    return run, send


def now() -> dt.datetime:
    return timezone.now()
