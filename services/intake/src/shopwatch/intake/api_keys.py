"""Retailer API keys: random, shown once, stored only as a hash.

A key looks like ``sw_<key_id>_<secret>``. The key id is public (it lets us find the
record without scanning); the secret is 32 random bytes, so a plain SHA-256 is enough:
slow password hashes exist to protect low-entropy human passwords, not random tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "sw"
_KEY_ID_BYTES = 6
_SECRET_BYTES = 32


class MalformedApiKey(ValueError):
    """The presented string cannot be a Shopwatch API key."""


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    plaintext: str  # shown to the operator once, never stored
    secret_hash: str


@dataclass(frozen=True)
class PresentedKey:
    key_id: str
    secret: str


def issue_key() -> IssuedKey:
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return IssuedKey(
        key_id=key_id,
        plaintext=f"{KEY_PREFIX}_{key_id}_{secret}",
        secret_hash=hash_secret(secret),
    )


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(presented: str) -> PresentedKey:
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise MalformedApiKey("API key is not in the form sw_<id>_<secret>")
    _, key_id, secret = parts
    if len(key_id) != _KEY_ID_BYTES * 2 or not all(c in "0123456789abcdef" for c in key_id):
        raise MalformedApiKey("API key id is malformed")
    if not 20 <= len(secret) <= 100:
        raise MalformedApiKey("API key secret has the wrong length")
    return PresentedKey(key_id=key_id, secret=secret)


def secret_matches(presented: PresentedKey, stored_hash: str) -> bool:
    # Constant-time comparison so response timing says nothing about the stored hash.
    return hmac.compare_digest(hash_secret(presented.secret), stored_hash)
