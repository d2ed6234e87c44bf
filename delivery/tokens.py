"""Signed tokens for the links in every email (unsubscribe, view in browser).

A token carries the delivery id and the contact id, signed with the project's SECRET_KEY and a salt per purpose,
so an unsubscribe token cannot be replayed as a view token and an edited token fails the signature check.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

UNSUBSCRIBE_SALT = "herald.delivery.unsubscribe"
VIEW_SALT = "herald.delivery.view"


@dataclass(frozen=True)
class TokenData:
    delivery_id: int
    contact_id: int


def token_make(*, delivery_id: int, contact_id: int, salt: str) -> str:
    # No timestamp (Signer, not signing.dumps' TimestampSigner): a retried page must render byte-identical
    # emails, or the provider would reject the replayed Idempotency-Key as a different request.
    return signing.Signer(salt=salt).sign_object([delivery_id, contact_id])


def token_read(*, token: str, salt: str) -> TokenData | None:
    """The token's ids, or None when the token is forged, edited or malformed."""
    try:
        value = signing.Signer(salt=salt).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return None
    return TokenData(delivery_id=value[0], contact_id=value[1])
