"""Retailers, stores and keys as plain records (no I/O here)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from shopwatch.schemas.report import Location, StoreSnapshot


def new_id(prefix: str) -> str:
    # Random rather than sequential: ids appear in URLs, and guessable ids invite probing
    # for other retailers' data (which answers 404 anyway).
    return f"{prefix}_{secrets.token_hex(10)}"


def report_id_for_key(retailer_id: str, idempotency_key: str) -> str:
    """The id of the report a retailer files under an Idempotency-Key: the same key always
    names the same report, so a replay is found (and a race is settled) by _id alone."""
    digest = hashlib.sha256(f"{retailer_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"rep_{digest[:32]}"


@dataclass(frozen=True)
class Retailer:
    retailer_id: str
    name: str
    created_at: datetime
    notification_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class Store:
    store_id: str
    retailer_id: str
    name: str
    address_lines: tuple[str, ...]
    town: str
    postcode: str
    created_at: datetime
    location: Location | None = None
    force_override: str | None = None
    notification_emails: tuple[str, ...] = field(default_factory=tuple)

    def snapshot(self) -> StoreSnapshot:
        return StoreSnapshot(
            store_id=self.store_id,
            name=self.name,
            address_lines=list(self.address_lines),
            town=self.town,
            postcode=self.postcode,
            location=self.location,
            force_override=self.force_override,
        )


@dataclass(frozen=True)
class ApiKeyRecord:
    key_id: str
    retailer_id: str
    secret_hash: str
    created_at: datetime
    label: str = ""
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
