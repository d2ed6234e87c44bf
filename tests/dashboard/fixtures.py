"""A small world for the dashboard tests: scenarios, automations, a journey, and sends with hand-countable
deliveries (models written directly: the selectors only read them)."""

from __future__ import annotations

import datetime as dt
from typing import cast

from django.utils import timezone

from automations.models import Automation, AutomationRun, Enrollment, Journey
from campaigns.models import Emailer, Scenario
from contacts.models import Contact
from delivery.models import Delivery, Send
from tests.factories import ContactFactory, ScenarioFactory


def scenario(**kwargs: object) -> Scenario:
    return cast(Scenario, ScenarioFactory(**kwargs))


def contacts(n: int) -> list[Contact]:
    return [cast(Contact, ContactFactory()) for _ in range(n)]


def send_for(
    owner: Scenario, *, status: str, total: int = 0, sent: int = 0, finished_at: dt.datetime | None = None
) -> Send:
    send = Send.objects.create(
        label=owner.subject,
        subject=owner.subject,
        status=status,
        total=total,
        sent=sent,
        started_at=timezone.now() - dt.timedelta(minutes=5),
        finished_at=finished_at,
    )
    Emailer.objects.create(
        campaign=owner.campaign,
        scenario=owner,
        batch=owner.campaign.batch,
        scheduled_at=timezone.now() - dt.timedelta(minutes=5),
        active=status != Send.Status.DONE,
        sent=status == Send.Status.DONE,
        send=send,
    )
    return send


def deliveries(
    send: Send,
    people: list[Contact],
    *,
    sent_at: dt.datetime,
    opened: int = 0,
    clicked: int = 0,
    bounced: int = 0,
    opened_at: dt.datetime | None = None,
) -> None:
    """The first `opened` people opened (the first `clicked` of them clicked too); the last `bounced` bounced."""
    rows = []
    for index, person in enumerate(people):
        status = Delivery.Status.BOUNCED if index >= len(people) - bounced else Delivery.Status.SENT
        when = opened_at or sent_at + dt.timedelta(hours=1)
        rows.append(
            Delivery(
                send=send,
                contact=person,
                email=person.email,
                status=status,
                sent_at=sent_at,
                opened_at=when if index < opened else None,
                clicked_at=when if index < clicked else None,
            )
        )
    Delivery.objects.bulk_create(rows)


def automation(name: str = "Daily digest", cron: str = "0 9 * * *", **kwargs: object) -> Automation:
    return Automation.objects.create(name=name, cron=cron, timezone="UTC", **kwargs)


def run(owner: Automation, *, due_at: dt.datetime, status: str = AutomationRun.Status.SENT) -> AutomationRun:
    return AutomationRun.objects.create(automation=owner, due_at=due_at, status=status)


def journey_with_due(*, due: int, later: int = 0, name: str = "Welcome") -> Journey:
    journey = Journey.objects.create(name=name, status=Journey.Status.ACTIVE, trigger={"type": "api"})
    now = timezone.now()
    for index, person in enumerate(contacts(due + later)):
        Enrollment.objects.create(
            journey=journey,
            contact=person,
            step_key="s1",
            entered_at=now,
            next_at=now + dt.timedelta(hours=2 if index < due else 48),
        )
    return journey
