"""Exactly once under SIGKILL, 429 storms and injected 5xx: the server's ledger shows 0 duplicates, 0 missing."""

from __future__ import annotations

import random
import time

import pytest

from delivery import services
from delivery.models import Delivery, Send
from tests.e2e.test_engine_send import make_contacts, start_send, wait_done

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sigkill_of_every_worker_five_times_while_sending_loses_and_duplicates_nothing(
    celery_worker, fake_resend
) -> None:
    emails = make_contacts(5000, prefix="kill")  # 50 pages: more than the 32-page window, so the chain is tested
    # Latency keeps calls in flight, so kills land between the server's accept and our commit.
    fake_resend.configure(latency_ms=100)
    celery_worker.start(concurrency=2)
    send = start_send(emails)
    rng = random.Random(5)
    kills_mid_send = 0
    while kills_mid_send < 5:
        time.sleep(rng.uniform(0.3, 1.2))
        send.refresh_from_db()
        assert send.status == Send.Status.SENDING, "the send finished before five kills; slow the server down"
        celery_worker.kill()
        kills_mid_send += 1
        celery_worker.start()

    # The scheduler tick calls the watchdog; here the test plays the tick, with a short stall threshold.
    send = wait_done(send, timeout=90, tick=lambda: services.watchdog(stale_after=2))

    assert fake_resend.report(emails) == {"received": 5000, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert Delivery.objects.filter(send=send, status=Delivery.Status.SENT).count() == 5000
    assert (send.sent, send.failed) == (5000, 0)


def test_429_storm_and_injected_5xx_lose_and_duplicate_nothing(celery_worker, fake_resend) -> None:
    emails = make_contacts(2000, prefix="storm")
    fake_resend.configure(storm_429_rate=0.3, retry_after=0.2, error_rate=0.01, error_after_accept_rate=0.02)
    celery_worker.start(concurrency=2)

    send = wait_done(start_send(emails), timeout=90, tick=lambda: services.watchdog(stale_after=5))

    stats = fake_resend.stats()
    assert stats.get("429", 0) > 0
    assert fake_resend.report(emails) == {"received": 2000, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert (send.sent, send.failed) == (2000, 0)
