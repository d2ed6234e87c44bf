from __future__ import annotations

from contacts.models import Contact
from delivery import services
from delivery.models import Send


def make_contacts(n: int, *, prefix: str = "c", status: str = Contact.Status.SUBSCRIBED) -> list[Contact]:
    return Contact.objects.bulk_create(
        [Contact(email=f"{prefix}{i}@example.com", first_name=f"First{i}", status=status) for i in range(n)]
    )


def started_send(
    contacts: list[Contact],
    *,
    subject: str = "Hi {{ first_name }}",
    body_text: str = "Hello {{ first_name }}.",
    body_html: str = "",
) -> Send:
    """A Send snapshotted over `contacts` (its page messages are not enqueued: on_commit does not run here)."""
    send = services.send_create(label="test", subject=subject, body_text=body_text, body_html=body_html)
    services.send_start(send_id=send.pk, audience=Contact.objects.filter(pk__in=[c.pk for c in contacts]).values("pk"))
    send.refresh_from_db()
    return send
