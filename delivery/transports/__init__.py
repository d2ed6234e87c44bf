"""Transports: how a page of rendered emails leaves Herald. One interface, chosen by `settings.EMAIL_TRANSPORT`.

A transport sends a page in one call and returns one result per email, in order. It raises `TransientError` when
the whole call may succeed later (429, 5xx, network) and `PermanentError` when it never will (bad key, bad sender).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: int | None  # None for a test send (no Delivery row)
    to: str
    from_email: str
    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What happened to one email: sent (with the provider's id), failed for good (error), or to be retried."""

    provider_message_id: str = ""
    error: str = ""
    retry: bool = False

    @property
    def sent(self) -> bool:
        return not self.error and not self.retry


class TransientError(Exception):
    """The whole call failed but may work later; `retry_after` is the provider's hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class PermanentError(Exception):
    """The whole call failed and retrying the same request will not help."""


class Transport(Protocol):
    name: str
    # Whether a repeated call with the same idempotency key is replayed by the provider instead of sent again.
    idempotent: bool
    # Whether the provider builds a plain-text part from the HTML when none is given (then we need not render it).
    derives_text_part: bool

    def send_batch(self, emails: list[OutgoingEmail], *, idempotency_key: str) -> list[SendResult]: ...


def get_transport(name: str | None = None) -> Transport:
    name = name or settings.EMAIL_TRANSPORT
    if name == "resend":
        from delivery.transports.resend import ResendTransport

        return ResendTransport()
    if name == "smtp":
        from delivery.transports.smtp import SmtpTransport

        return SmtpTransport()
    if name == "outbox":
        from delivery.transports.outbox import OutboxTransport

        return OutboxTransport()
    raise ValueError(f"Unknown EMAIL_TRANSPORT {name!r}: use outbox, resend or smtp.")
