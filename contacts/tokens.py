"""The stored forms of personal data, Django-free (the import's sealer process, contacts/sealer.py, imports only this
module and `cryptography`): the encrypted token of a value and the blind index of a mobile number.

Token: AES-256-GCM under a key derived (HKDF-SHA256) from one of the configured Fernet keys, a random 96-bit
nonce per value; stored as "~" + base64url(nonce + ciphertext + tag), unpadded: 57 characters for a 14-character
number, where a Fernet token took 100. A contact row is the width every import writes, sorts and indexes (the
import's A/B in docs/benchmarks.md): Fernet tokens written before this format stay readable (contacts/crypto.py),
and `manage.py rotate_encryption_keys` rewrites them in it. GCM with random nonces is sound up to 2^32 values
encrypted under one key (NIST SP 800-38D); a new first key starts the count again.

Blind index: keyed BLAKE2b of the number, its first 64 bits in hex (16 characters). It only ever answers "is the
file's number the one stored for this contact", where a false "same" has a chance of 2^-64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "~"
_NONCE_BYTES = 12
_TAG_BYTES = 16
BLIND_INDEX_CHARS = 16


def token_key(fernet_key: str) -> AESGCM:
    """The AES-256-GCM key of one configured key (its Fernet key's 32 bytes through HKDF-SHA256)."""
    raw = base64.urlsafe_b64decode(fernet_key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"herald token v1").derive(raw)
    return AESGCM(derived)


def token_sealer(fernet_key: str) -> Callable[[Sequence[bytes]], list[bytes]]:
    """Tokens of a batch of values, the key set up once and the batch's nonces drawn at once; b"" for an empty
    value (as `blind_indexer`), so a chunk's answers line up with its rows."""
    encrypt = token_key(fernet_key).encrypt
    b64 = base64.urlsafe_b64encode
    prefix = TOKEN_PREFIX.encode()

    def seal(values: Sequence[bytes]) -> list[bytes]:
        nonces = os.urandom(_NONCE_BYTES * len(values))
        tokens = []
        for i, value in enumerate(values):
            if not value:
                tokens.append(b"")
                continue
            nonce = nonces[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
            tokens.append(prefix + b64(nonce + encrypt(nonce, value, None)).rstrip(b"="))
        return tokens

    return seal


def open_token(keys: Sequence[AESGCM], token: str) -> bytes | None:
    """The plain bytes of a token under any of `keys`, or None (not a token, or under none of them)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    body = token[len(TOKEN_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        return None
    nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    for key in keys:
        try:
            return key.decrypt(nonce, sealed, None)
        except InvalidTag:
            continue
    return None


def blind_indexer(key: bytes) -> Callable[[Sequence[bytes]], list[bytes]]:
    """The blind indexes of a batch of numbers (UTF-8), the keyed BLAKE2b set up once: 16 hex characters each,
    b"" for an empty number. What the sealer process computes, and `blind_hasher` for one number."""
    base = hashlib.blake2b(key=key[:64], digest_size=16, person=b"herald-mobile")

    def index(numbers: Sequence[bytes]) -> list[bytes]:
        indexes = []
        for number in numbers:
            if number:
                h = base.copy()
                h.update(number)
                indexes.append(h.hexdigest()[:BLIND_INDEX_CHARS].encode())
            else:
                indexes.append(b"")
        return indexes

    return index


def blind_hasher(key: bytes) -> Callable[[str], str]:
    """The mobile number's blind index with `key` set up once (16 hex characters), "" for none."""
    index = blind_indexer(key)

    def digest(mobile: str) -> str:
        return index([mobile.encode()])[0].decode() if mobile else ""

    return digest
