"""The embedded default: emails are stored as OutboxMessage rows (in the page's transaction) and shown in the dashboard."""

from __future__ import annotations

from delivery.models import OutboxMessage
from delivery.transports import OutgoingEmail, SendResult


class OutboxTransport:
    name = "outbox"
    # The rows are written in the page's own transaction, so a crash rolls them back with the claim.
    idempotent = True
    derives_text_part = False

    def send_batch(self, emails: list[OutgoingEmail], *, idempotency_key: str) -> list[SendResult]:
        rows = OutboxMessage.objects.bulk_create(
            [
                OutboxMessage(
                    delivery_id=e.delivery_id,
                    to=e.to,
                    from_email=e.from_email,
                    subject=e.subject[:300],
                    body_text=e.text,
                    body_html=e.html,
                    headers=e.headers,
                )
                for e in emails
            ]
        )
        return [SendResult(provider_message_id=f"outbox-{row.pk}") for row in rows]
