"""Identifiers: a prefix, the creation time in milliseconds (hex) and random bits.

Time first, so ids sort roughly by creation (handy in listings and logs); 48 random bits
keep ids made in the same millisecond apart. All fit the contract's ``Id`` type.
"""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(6)}"
