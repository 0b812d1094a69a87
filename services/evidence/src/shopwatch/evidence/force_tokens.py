"""Force API tokens: ``swf_<token_id>_<secret>``, random, shown once, stored as a hash.

The token id is public (it finds the record without a scan and names the credential in
the continuity log); the secret is 32 random bytes, so a plain SHA-256 is enough (slow
password hashes protect low-entropy human passwords, not random tokens).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "swf"  # noqa: S105 - a prefix, not a secret
_ID_BYTES = 6
_SECRET_BYTES = 32


class MalformedToken(ValueError):
    """The presented string cannot be a force token."""


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    plaintext: str  # handed to the force once, never stored
    secret_hash: str


@dataclass(frozen=True)
class PresentedToken:
    token_id: str
    secret: str


def looks_like_force_token(presented: str) -> bool:
    return presented.startswith(TOKEN_PREFIX + "_")


def issue_token() -> IssuedToken:
    token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    return IssuedToken(token_id, f"{TOKEN_PREFIX}_{token_id}_{secret}", hash_secret(secret))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(presented: str) -> PresentedToken:
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise MalformedToken("force token is not in the form swf_<id>_<secret>")
    _, token_id, secret = parts
    if len(token_id) != _ID_BYTES * 2 or not all(c in "0123456789abcdef" for c in token_id):
        raise MalformedToken("force token id is malformed")
    if not 20 <= len(secret) <= 100:
        raise MalformedToken("force token secret has the wrong length")
    return PresentedToken(token_id, secret)


def secret_matches(presented: PresentedToken, stored_hash: str) -> bool:
    # Constant time, so response timing says nothing about the stored hash.
    return hmac.compare_digest(hash_secret(presented.secret), stored_hash)
