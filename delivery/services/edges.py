"""What the edges outside the engine call: the unsubscribe link, and the test sender templates_app registers."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.utils.module_loading import import_string

from delivery.transports import OutgoingEmail, get_transport
from templates_app.rendering import RenderedEmail

logger = logging.getLogger(__name__)


def unsubscribe_by_token(*, token: str, ip: str | None = None, one_click: bool = False) -> bool | None:
    """Unsubscribe the contact a signed unsubscribe token names. None when the token is forged or edited (nothing
    changes); else whether this call changed the contact (a second click is a harmless no-op). The consent ledger
    records the link, the request's `ip`, and whether it was a mail client's one-click POST (RFC 8058)."""
    from contacts import services as contact_services
    from delivery.tokens import UNSUBSCRIBE_SALT, token_read

    data = token_read(token=token, salt=UNSUBSCRIBE_SALT)
    if data is None:
        return None
    changed = contact_services.contact_unsubscribe(
        contact_id=data.contact_id, source="link", ip=ip, detail="one-click" if one_click else "confirm page"
    )
    if changed:
        # Higher apps (reports) learn which email's link it was: only the token knows. Named in settings, as
        # imports point down; a subscriber's bug must not undo the unsubscribe that already happened.
        for path in settings.UNSUBSCRIBE_HOOKS:
            try:
                import_string(path)(delivery_id=data.delivery_id, contact_id=data.contact_id)
            except Exception:
                logger.exception("unsubscribe hook %s failed for delivery %s", path, data.delivery_id)
    return changed


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
