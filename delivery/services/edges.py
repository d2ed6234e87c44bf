"""What the edges outside the engine call: the unsubscribe link, and the test sender templates_app registers."""

from __future__ import annotations

import uuid

from delivery.transports import OutgoingEmail, get_transport
from templates_app.rendering import RenderedEmail


def unsubscribe_by_token(*, token: str) -> bool | None:
    """Unsubscribe the contact a signed unsubscribe token names. None when the token is forged or edited (nothing
    changes); else whether this call changed the contact (a second click is a harmless no-op)."""
    from contacts import services as contact_services
    from delivery.tokens import UNSUBSCRIBE_SALT, token_read

    data = token_read(token=token, salt=UNSUBSCRIBE_SALT)
    if data is None:
        return None
    return contact_services.contact_unsubscribe(contact_id=data.contact_id)


def template_test_sender(email: RenderedEmail, to: str, from_email: str) -> str:
    """Send one rendered test email through the configured transport; returns the provider's id (or "sent").

    Registered with `templates_app.services.register_test_sender` in `DeliveryConfig.ready`. A fresh key each
    time: two test sends of the same template are two emails.
    """
    outgoing = OutgoingEmail(
        delivery_id=None, to=to, from_email=from_email, subject=email.subject, html=email.html, text=email.text
    )
    result = get_transport().send_batch([outgoing], idempotency_key=f"test-{uuid.uuid4()}")[0]
    if not result.sent:
        raise RuntimeError(result.error or "the provider is temporarily unavailable, try again")
    return result.provider_message_id or "sent"
