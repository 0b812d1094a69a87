"""Operator use cases: retailers, stores and API keys (the `shopwatch admin` commands)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shopwatch.intake import api_keys
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.tenancy import ApiKeyRecord, Retailer, Store, new_id
from shopwatch.schemas.forces import is_known_force
from shopwatch.schemas.postcodes import normalise_postcode
from shopwatch.schemas.report import Location


class AdminError(Exception):
    """A refused admin request, with a message an operator can act on."""


@dataclass(frozen=True)
class NewKey:
    key_id: str
    retailer_id: str
    api_key: str  # the plaintext, shown once


@dataclass
class IntakeAdmin:
    tenants: MongoTenants
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    async def add_retailer(
        self, name: str, notification_emails: Sequence[str] = ()
    ) -> tuple[Retailer, NewKey]:
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise AdminError("retailer name must be 1-200 characters")
        retailer = Retailer(new_id("ret"), name, self.clock(), tuple(notification_emails))
        await self.tenants.add_retailer(retailer)
        key = await self.add_key(retailer.retailer_id, label="first key")
        return retailer, key

    async def add_store(
        self,
        retailer_id: str,
        *,
        name: str,
        address_lines: Sequence[str],
        town: str,
        postcode: str,
        location: Location | None = None,
        force_override: str | None = None,
        notification_emails: Sequence[str] = (),
    ) -> Store:
        if await self.tenants.get_retailer(retailer_id) is None:
            raise AdminError(f"no retailer with id {retailer_id}")
        if force_override is not None and not is_known_force(force_override):
            raise AdminError(f"unknown force slug {force_override!r}")
        try:
            normalised = normalise_postcode(postcode)
        except ValueError as exc:
            raise AdminError(f"postcode {postcode!r}: {exc}") from exc
        store = Store(
            store_id=new_id("st"),
            retailer_id=retailer_id,
            name=name.strip(),
            address_lines=tuple(line.strip() for line in address_lines if line.strip()),
            town=town.strip(),
            postcode=normalised,
            created_at=self.clock(),
            location=location,
            force_override=force_override,
            notification_emails=tuple(notification_emails),
        )
        # Validate with the contract's own snapshot model now, so a store that could
        # never be reported on is refused at registration, not at its first report.
        try:
            store.snapshot()
        except ValueError as exc:
            raise AdminError(str(exc)) from exc
        await self.tenants.add_store(store)
        return store

    async def add_key(self, retailer_id: str, label: str = "") -> NewKey:
        if await self.tenants.get_retailer(retailer_id) is None:
            raise AdminError(f"no retailer with id {retailer_id}")
        issued = api_keys.issue_key()
        await self.tenants.add_key(
            ApiKeyRecord(issued.key_id, retailer_id, issued.secret_hash, self.clock(), label)
        )
        return NewKey(issued.key_id, retailer_id, issued.plaintext)

    async def revoke_key(self, key_id: str) -> None:
        if not await self.tenants.revoke_key(key_id, self.clock()):
            raise AdminError(f"no active key with id {key_id}")
