"""Journeys end to end under SIGKILL: a real beat ticks every second, a real worker advances the due enrollments
(the tick's own batches and the drain task it kicks) and sends through the `resend` SDK to the local fake server;
the worker is SIGKILLed in the middle of the step, several times. Every contact gets the step's email exactly
once: 0 duplicates, 0 missing."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from automations import journeys
from automations.models import Enrollment, EnrollmentStep
from contacts.models import Contact
from delivery import services as delivery_services
from delivery.models import Delivery, Send
from templates_app.models import MessageTemplate
from tests.e2e.conftest import Beat
from tests.e2e.test_engine_send import make_contacts

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

N = 3000
BODY = '<p>Hello {{ first_name|default:"there" }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'


def _wait(condition: Callable[[], Any], timeout: float, message: Callable[[], str], tick: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if tick is not None:
            tick()
        time.sleep(0.25)
    raise AssertionError(message())


def test_sigkill_of_the_worker_in_the_middle_of_a_step_sends_it_once_to_everyone(
    celery_worker: Any, beat: Beat, fake_resend: Any
) -> None:
    emails = make_contacts(N, prefix="jkill")
    template = MessageTemplate.objects.create(
        name="Welcome", channel="email", templating_type="html", subject="Welcome {{ first_name }}", message=BODY
    )
    journey = journeys.journey_create(
        name="Welcome",
        trigger={"type": "api"},
        timezone="UTC",
        steps=[
            {"key": "s1", "type": "send", "template": template.pk},
            {"key": "w1", "type": "wait", "minutes": 60},
        ],
    )
    journeys.journey_activate(journey_id=journey.pk)
    ids = list(Contact.objects.filter(email__in=emails).values_list("id", flat=True))
    for start in range(0, N, 1000):
        journeys.journey_enroll(journey_id=journey.pk, contact_ids=ids[start : start + 1000])

    # Small batches and server latency keep the step in progress (claims, snapshots and calls in flight) while the
    # worker dies; the tick hands the backlog to the drain task, which the kills interrupt too.
    fake_resend.configure(latency_ms=60)
    env = {"JOURNEY_TICK_BATCH": "100", "JOURNEY_TICK_BUDGET_SECONDS": "0.2", "JOURNEY_DRAIN_BATCH": "150"}
    celery_worker.start(concurrency=2, **env)
    beat.start()
    rng = random.Random(16)

    def advanced() -> int:
        return EnrollmentStep.objects.filter(step_key="s1").count()

    def sent() -> int:
        return len(fake_resend.ledger())

    def logs() -> str:
        return f"advanced {advanced()}, at the server {sent()}\nworkers:\n{celery_worker.logs()}\nbeat:\n{beat.text()}"

    kills = 0
    _wait(lambda: advanced() > 0, 60, lambda: "the tick advanced nobody\n" + logs())
    while kills < 4:
        time.sleep(rng.uniform(0.5, 1.5))
        if advanced() >= N and sent() >= N:
            break
        celery_worker.kill()
        kills += 1
        celery_worker.start()
    assert kills >= 2, "the step finished before two kills; slow the server down\n" + logs()

    # Beat keeps ticking (and the tick runs the engine's watchdog); a page stalled by a kill is re-driven sooner here.
    _wait(
        lambda: advanced() == N and not Send.objects.exclude(status=Send.Status.DONE).exists(),
        90,
        lambda: "the step did not finish\n" + logs(),
        tick=lambda: delivery_services.watchdog(stale_after=2),
    )
    assert fake_resend.report(emails) == {"received": N, "duplicates": 0, "missing": 0, "unexpected": 0}, logs()
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == N
    assert EnrollmentStep.objects.filter(step_key="s1", outcome="sent").count() == N
    assert set(Enrollment.objects.values_list("step_key", "step_ran")) == {("w1", True)}
