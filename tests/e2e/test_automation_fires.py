"""Issue 15 end to end: an automation fires twice on its own. A real `celery beat` (django-celery-beat's
DatabaseScheduler, as production runs it) fires the automation's PeriodicTask every minute, a real worker runs
each firing through the send engine, and the real `resend` SDK talks to the local Resend-compatible server.
Each contact gets exactly one email per firing, with its unsubscribe link.

It waits for two real minute boundaries (about two minutes of wall time): no time travel reaches another process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from automations import services
from automations.models import AutomationRun
from contacts.models import Contact
from delivery.models import Delivery
from segments.models import Segment, SegmentMember
from templates_app.models import MessageTemplate
from tests.e2e.conftest import Beat

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
N = 8
R = AutomationRun.Status
BODY = '<p>Hello {{ first_name|default:"there" }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _wait(condition: Callable[[], Any], timeout: float, message: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(message())


def _runs(automation_id: int) -> list[AutomationRun]:
    return list(AutomationRun.objects.filter(automation_id=automation_id).order_by("due_at"))


def test_an_automation_fires_twice_on_its_own_one_email_per_contact_per_firing(
    celery_worker: Any, beat: Beat, fake_resend: Any, manager: Any
) -> None:
    contacts = Contact.objects.bulk_create(
        [Contact(email=f"auto{i}@example.com", first_name=f"Auto{i}") for i in range(N)]
    )
    emails = [c.email for c in contacts]
    segment = Segment.objects.create(name="Automation e2e", type=Segment.Type.MANUAL)
    SegmentMember.objects.bulk_create([SegmentMember(segment=segment, contact=c) for c in contacts])
    template = MessageTemplate.objects.create(
        name="Every minute",
        channel=MessageTemplate.Channel.EMAIL,
        templating_type=MessageTemplate.TemplatingType.HTML,
        subject="Minute news for {{ first_name|default:'you' }}",
        message=BODY,
    )
    automation = services.automation_create(
        name="Every minute", segment=segment, template=template, cron="* * * * *", timezone="UTC", user=manager
    )
    celery_worker.start(concurrency=2)
    beat.start()

    def logs() -> str:
        runs = [(r.due_at, r.status, r.reason) for r in _runs(automation.pk)]
        return f"runs: {runs}\nbeat:\n{beat.text()}\nworkers:\n{celery_worker.logs()}"

    def sent_runs(count: int) -> Callable[[], bool]:
        return lambda: sum(r.status == R.SENT for r in _runs(automation.pk)) >= count

    # First firing: at the next minute boundary, by beat alone.
    _wait(sent_runs(1), 150, lambda: "no firing was sent\n" + logs())
    first = _runs(automation.pk)[0]
    assert fake_resend.report(emails) == {"received": N, "duplicates": 0, "missing": 0, "unexpected": 0}, logs()

    # Second firing, a minute later; beat is stopped once it has started, so no third one muddles the counts.
    _wait(lambda: len(_runs(automation.pk)) >= 2, 150, lambda: "no second firing\n" + logs())
    beat.stop()
    _wait(sent_runs(2), 90, lambda: "the second firing did not finish\n" + logs())

    runs = _runs(automation.pk)
    assert [(r.status, r.trigger) for r in runs] == [(R.SENT, AutomationRun.Trigger.SCHEDULE)] * 2, logs()
    assert (runs[1].due_at - runs[0].due_at).total_seconds() == 60
    assert runs[0].pk == first.pk
    assert [(r.audience_size, r.sent, r.failed) for r in runs] == [(N, N, 0)] * 2
    # Exactly one email per contact per firing, at the server and in the engine's rows.
    assert fake_resend.ledger() == {email: 2 for email in emails}
    assert fake_resend.stats()["missing_unsubscribe"] == []
    for run in runs:
        assert run.send_id is not None
        rows = Delivery.objects.filter(send_id=run.send_id)
        assert sorted(rows.values_list("email", flat=True)) == sorted(emails)
        assert set(rows.values_list("status", flat=True)) == {Delivery.Status.SENT}
