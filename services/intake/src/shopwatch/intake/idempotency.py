"""Idempotency-Key rules: same key and body, same answer; a different body is a conflict."""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_KEY_LENGTH = 128


class InvalidIdempotencyKey(ValueError):
    pass


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable() or key.strip() != key:
        raise InvalidIdempotencyKey(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters without "
            "leading or trailing spaces"
        )
    return key


def fingerprint(body: Any) -> str:
    """A hash of the request's meaning, not its bytes: key order and spacing don't count."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
