"""Encryption at rest and keyed hashes for personal data (docs/privacy.md).

Keys: `HERALD_ENCRYPTION_KEYS`, Fernet keys separated by commas. The first encrypts, every one decrypts, so a key
is rotated by putting a new one first and running `manage.py rotate_encryption_keys` (which re-encrypts every
stored value under the first key) before the old one is removed. A value is stored as a token (contacts/tokens.py:
AES-256-GCM under a key derived from the Fernet key); Fernet tokens, the format before it, are still read, and
the rotation command rewrites them.

Hashes: `HERALD_HASH_KEY` keys an HMAC-SHA256 of a normalised email (the suppression list keeps it after an
erasure, so a re-import does not bring the address back) and a keyed BLAKE2b of the mobile number (the blind
index the import compares, since two encryptions of the same number differ).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from contacts.tokens import TOKEN_PREFIX, blind_hasher, open_token, token_key, token_sealer

# Every Fernet token (the format before contacts/tokens.py) starts with its version byte 0x80, base64-encoded.
FERNET_PREFIX = "gAAAAA"
# An encrypted attribute value is a JSON string with this prefix (the attribute keeps its declared type).
ATTRIBUTE_PREFIX = "herald-enc:"


@functools.cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("HERALD_ENCRYPTION_KEYS is empty: set at least one Fernet key.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "HERALD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes; "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        ) from exc


@functools.cache
def _token_keys(keys: tuple[str, ...]) -> tuple[AESGCM, ...]:
    _fernet(keys)  # validated, with its error message
    return tuple(token_key(key) for key in keys)


@functools.cache
def _sealer(key: str) -> Callable[[Sequence[bytes]], list[bytes]]:
    return token_sealer(key)


def _keys() -> tuple[str, ...]:
    return tuple(str(k).strip() for k in settings.HERALD_ENCRYPTION_KEYS if str(k).strip())


def fernet() -> MultiFernet:
    """The keys of the current settings as Fernet keys: what reads a token of the format before this one."""
    return _fernet(_keys())


def sealing_keys() -> tuple[str, bytes]:
    """What the import's sealer process needs (contacts/sealer.py): the key that encrypts (the first) and the
    blind index's key."""
    _token_keys(_keys())  # validated as this process would use them
    return _keys()[0], _hash_key()


def encrypt_many(values: Sequence[str]) -> list[str]:
    """Tokens of strings under the first key, "" for an empty one (the key set up once per settings, the nonces
    drawn at once): what an import seals its numbers with in its own process."""
    keys = _keys()
    _token_keys(keys)
    return [token.decode() for token in _sealer(keys[0])([value.encode() for value in values])]


def encrypt(value: str) -> str:
    """A token for a non-empty string; empty stays empty (so "has no mobile" is still a plain test)."""
    if not value:
        return value
    return encrypt_many([value])[0]


def _open(value: str) -> str | None:
    """The plain text of a token under these keys (either format), or None."""
    if value.startswith(TOKEN_PREFIX):
        plain = open_token(_token_keys(_keys()), value)
        return None if plain is None else plain.decode()
    if value.startswith(FERNET_PREFIX):
        try:
            return fernet().decrypt(value.encode()).decode()
        except InvalidToken:
            return None
    return None


def decrypt(value: str) -> str:
    """The plain text of a token; a value that is not a token under these keys (written before encryption was
    turned on, not yet migrated) is returned as it is."""
    if not value:
        return value
    plain = _open(value)
    return value if plain is None else plain


def is_encrypted(value: str) -> bool:
    return bool(value) and _open(value) is not None


def looks_encrypted(value: str) -> bool:
    """Whether a stored value has the shape of a token (either format), whether or not these keys open it."""
    return value.startswith((TOKEN_PREFIX, FERNET_PREFIX))


def rotate(value: str) -> str:
    """The value re-encrypted under the first key, in this format (a plain value is encrypted). A token that no
    configured key opens is returned as it is: encrypting it again would bury it under a second layer."""
    if not value:
        return value
    plain = _open(value)
    if plain is None:
        return value if looks_encrypted(value) else encrypt(value)
    return encrypt(plain)


def encrypt_attribute(value: Any) -> Any:
    """An attribute value stored encrypted: its JSON under Fernet, as a prefixed string. None and "" stay."""
    if value is None or value == "" or is_encrypted_attribute(value):
        return value
    return ATTRIBUTE_PREFIX + encrypt(json.dumps(value))


def is_encrypted_attribute(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(ATTRIBUTE_PREFIX)


def decrypt_attribute(value: Any) -> Any:
    if not is_encrypted_attribute(value):
        return value
    plain = decrypt(value[len(ATTRIBUTE_PREFIX) :])
    try:
        return json.loads(plain)
    except ValueError:
        return value  # a token under a key that is no longer configured: shown as stored


def rotate_attribute(value: Any) -> Any:
    if is_encrypted_attribute(value):
        return ATTRIBUTE_PREFIX + rotate(value[len(ATTRIBUTE_PREFIX) :])
    return encrypt_attribute(value)


def json_loads(raw: Any) -> Any:
    """A raw jsonb/JSON column value as Python (psycopg may hand text or already-decoded values)."""
    return json.loads(raw) if isinstance(raw, str | bytes) else raw


def json_dumps(value: Any) -> str:
    return json.dumps(value)


def _hash_key() -> bytes:
    key = str(settings.HERALD_HASH_KEY or "")
    if not key:
        raise ImproperlyConfigured("HERALD_HASH_KEY is empty.")
    return key.encode()


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def email_hash(email: str) -> str:
    """HMAC-SHA256 (hex) of the normalised email: what the suppression list and an erased contact's consent
    records keep. `email_hash_sql` computes the same value in PostgreSQL."""
    return hmac.new(_hash_key(), normalise_email(email).encode(), hashlib.sha256).hexdigest()


def email_hash_pads() -> tuple[bytes, bytes]:
    """The HMAC inner and outer pads of the hash key, for `email_hash_sql` (RFC 2104 with SHA-256's 64-byte block)."""
    key = _hash_key()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def email_hash_sql(column: str) -> str:
    """PostgreSQL expression of `email_hash(column)` for an already normalised column; its parameters are
    `email_hash_pads()` (outer pad last): set-based, so an import checks a million emails in one statement."""
    return f"encode(sha256(%s::bytea || sha256(%s::bytea || convert_to({column}, 'UTF8'))), 'hex')"


def email_hash_sql_params() -> list[bytes]:
    inner, outer = email_hash_pads()
    return [outer, inner]


def mobile_hasher() -> Callable[[str], str]:
    """`mobile_hash` with the key set up once (the import calls it per row)."""
    return blind_hasher(_hash_key())


def mobile_hash(mobile: str) -> str:
    """The mobile number's blind index: keyed BLAKE2b (its first 64 bits in hex), "" for no number."""
    return mobile_hasher()(mobile)
