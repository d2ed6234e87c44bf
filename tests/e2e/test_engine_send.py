"""A real worker sends a snapshot through the real `resend` SDK to the local Resend-compatible server."""

from __future__ import annotations

import time
from typing import Any

import pytest

from contacts.models import Contact
from delivery import services
from delivery.models import Send

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def make_contacts(n: int, *, prefix: str = "e2e") -> list[str]:
    emails = [f"{prefix}{i}@example.com" for i in range(n)]
    Contact.objects.bulk_create(
        [Contact(email=e, first_name=f"Name{i}") for i, e in enumerate(emails)], batch_size=2000
    )
    return emails


def start_send(emails: list[str], *, subject: str = "Hello {{ first_name }}") -> Send:
    send = services.send_create(label="e2e", subject=subject, body_text="Hi {{ first_name }}, news inside.")
    services.send_start(send_id=send.pk, audience=Contact.objects.filter(email__in=emails).values("id"))
    return send


def wait_done(send: Send, *, timeout: float, tick: Any = None) -> Send:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        send.refresh_from_db()
        if send.status == Send.Status.DONE:
            return send
        if tick is not None:
            tick()
        time.sleep(0.2)
    raise AssertionError(f"send {send.pk} still {send.status} after {timeout}s: {send.sent}/{send.total} sent")


def test_every_contact_gets_exactly_one_email_with_unsubscribe_link_and_headers(celery_worker, fake_resend) -> None:
    emails = make_contacts(250)
    celery_worker.start(concurrency=2)

    send = wait_done(start_send(emails), timeout=60)

    assert fake_resend.report(emails) == {"received": 250, "duplicates": 0, "missing": 0, "unexpected": 0}
    assert fake_resend.stats()["missing_unsubscribe"] == []
    message = fake_resend.messages(to="e2e7@example.com")[0]
    assert message["subject"] == "Hello Name7"
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["headers"]["List-Unsubscribe"].startswith("<http://testserver/u/")
    assert (send.sent, send.failed) == (250, 0)
