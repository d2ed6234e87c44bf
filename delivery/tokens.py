"""Signed tokens for the links in every email (unsubscribe, view in browser, open pixel, click redirects).

A token carries the delivery id and the contact id, signed with the project's SECRET_KEY and a salt per purpose,
so an unsubscribe token cannot be replayed as a view token and an edited token fails the signature check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.encoding import force_bytes

UNSUBSCRIBE_SALT = "herald.delivery.unsubscribe"
VIEW_SALT = "herald.delivery.view"


@dataclass(frozen=True)
class TokenData:
    delivery_id: int
    contact_id: int


@lru_cache(maxsize=8)
def _signer_mac(salt: str, secret: str | bytes) -> hmac.HMAC:
    # Django's Signer derives its HMAC key as sha256(salt + "signer" + SECRET_KEY) on every call (salted_hmac);
    # the key is the same for every token of a salt, so it is derived and loaded into an HMAC object once.
    key = hashlib.sha256(force_bytes(salt + "signer") + force_bytes(secret)).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_make(*, delivery_id: int, contact_id: int, salt: str) -> str:
    """The token Django's `Signer(salt=salt).sign_object([delivery_id, contact_id])` makes, byte for byte, at a
    tenth of its cost (it runs once per recipient). No timestamp (Signer, not signing.dumps' TimestampSigner):
    a retried page must render byte-identical emails, or the provider would reject the replayed Idempotency-Key
    as a different request."""
    # sign_object: compact JSON of the list, URL-safe base64 without padding, then `value:signature`.
    value = _b64(f"[{int(delivery_id)},{int(contact_id)}]".encode())
    mac = _signer_mac(salt, settings.SECRET_KEY).copy()
    mac.update(value.encode())
    return f"{value}:{_b64(mac.digest())}"


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


# --- tracking links (open pixel, click redirect) -----------------------------------------------------------------
# Their own format (not Signer's): they carry no contact data, only the delivery and send ids (and, for a click,
# the link's position, the message's link count and the original URL), so the endpoint answers without reading
# the database.
#
# A click token is two signed parts: the LINK part [send id, position, link count, URL] (CLICK_SALT) and the
# RECIPIENT part [delivery id, send id] (OPEN_SALT, the pixel's own token). Both must verify and name the same
# send. The URL is signed, so an edited destination fails and nothing unsigned is ever followed; the recipient
# part says whose click it is. Signing them apart costs one HMAC per email (shared with the pixel) plus one per
# distinct URL of the page, instead of one per link per email: rendering stays fast (docs/benchmarks.md).
# Putting one email's recipient part on another link of the same send only claims a click its holder could make.

OPEN_SALT = "herald.delivery.open"
CLICK_SALT = "herald.delivery.click"
_PUNCTUATION = ".,;:!?)]}'\""


@dataclass(frozen=True)
class OpenToken:
    delivery_id: int
    send_id: int


@dataclass(frozen=True)
class ClickToken:
    delivery_id: int
    send_id: int
    link_index: int
    link_count: int
    url: str


# HMAC-SHA256 cut to 128 bits (as RFC 2104 allows): every link of every email carries two of them, and 128 bits
# is beyond forging by guessing.
_TRACKING_MAC_BYTES = 16


def _tracking_sign(payload: str, salt: str) -> str:
    value = _b64(payload.encode())
    mac = _signer_mac(salt, settings.SECRET_KEY).copy()
    mac.update(value.encode())
    return f"{value}.{_b64(mac.digest()[:_TRACKING_MAC_BYTES])}"


def _tracking_unsign(value: str, signature: str, salt: str) -> list[Any] | None:
    if not value or len(value) > 8192:
        return None
    mac = _signer_mac(salt, settings.SECRET_KEY).copy()
    mac.update(value.encode("ascii", "replace"))
    if not hmac.compare_digest(_b64(mac.digest()[:_TRACKING_MAC_BYTES]), signature):
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error):
        return None
    return decoded if isinstance(decoded, list) else None


def _ints(values: list[Any] | tuple[Any, ...]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values)


def open_token_make(*, delivery_id: int, send_id: int) -> str:
    """The pixel's token, and the recipient part of each of the email's click tokens."""
    return _tracking_sign(f"[{int(delivery_id)},{int(send_id)}]", OPEN_SALT)


def _parts(token: str, count: int) -> list[str] | None:
    # A link at the end of a sentence in a text part: some clients take the full stop into the link. URL-safe
    # base64 has no punctuation, so stripping it changes no valid token.
    parts = token.rstrip(_PUNCTUATION).split(".")
    return parts if len(parts) == count else None


def open_token_read(token: str) -> OpenToken | None:
    parts = _parts(token, 2)
    data = None if parts is None else _tracking_unsign(parts[0], parts[1], OPEN_SALT)
    if data is None or len(data) != 2 or not _ints(data):
        return None
    return OpenToken(delivery_id=data[0], send_id=data[1])


def link_token_make(*, send_id: int, link_index: int, link_count: int, url: str) -> str:
    """The link part of a click token (the same for every recipient of a send with this URL at this position)."""
    return _tracking_sign(
        f"[{int(send_id)},{int(link_index)},{int(link_count)},{json.dumps(url, separators=(',', ':'))}]", CLICK_SALT
    )


def click_token_make(*, delivery_id: int, send_id: int, link_index: int, link_count: int, url: str) -> str:
    link = link_token_make(send_id=send_id, link_index=link_index, link_count=link_count, url=url)
    return f"{link}.{open_token_make(delivery_id=delivery_id, send_id=send_id)}"


@lru_cache(maxsize=256)  # links of the sends being clicked now (a few KB each at most: URLs up to 2,000 characters)
def _link_read(value: str, signature: str, secret: str | bytes) -> tuple[Any, ...] | None:
    # The link part is the same for every recipient of a link (the recipient part differs): a send's clicks
    # verify a handful of link parts again and again, so each is checked once (keyed by the secret too: a rotated
    # SECRET_KEY is a new check). A tuple: the cache's values are shared. Forged parts take slots too: a flood of
    # them only evicts good ones (which are then checked again), it never changes an answer.
    link = _tracking_unsign(value, signature, CLICK_SALT)
    return None if link is None else tuple(link)


def click_token_read(token: str) -> ClickToken | None:
    parts = _parts(token, 4)
    if parts is None:
        return None
    link = _link_read(parts[0], parts[1], settings.SECRET_KEY)
    recipient = _tracking_unsign(parts[2], parts[3], OPEN_SALT)
    if link is None or recipient is None or len(link) != 4 or len(recipient) != 2:
        return None
    if not _ints(link[:3]) or not _ints(recipient) or not isinstance(link[3], str) or link[0] != recipient[1]:
        return None
    url = link[3]
    # Only web links were rewritten; anything else in a validly signed token is still never followed.
    if not url.lower().startswith(("http://", "https://")):
        return None
    return ClickToken(delivery_id=recipient[0], send_id=link[0], link_index=link[1], link_count=link[2], url=url)
