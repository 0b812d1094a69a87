"""Operator actions on notify's own data: contacts, preferences, the record of emails.

Used by `shopwatch admin notify …`; everything here validates before it writes, so a
typo is an error message rather than an address nobody reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.notify.adapters.mongo import (
    MongoContacts,
    MongoFailedEvents,
    MongoPreferences,
    MongoSentEmails,
)
from shopwatch.notify.domain import (
    InvalidAddress,
    Mode,
    Preferences,
    UnknownStatusName,
    address_key,
    normalise_address,
    parse_statuses,
)

Document = dict[str, Any]


class AdminError(ValueError):
    """A request the operator must correct (the message says how)."""


@dataclass(frozen=True)
class ContactList:
    retailer_id: str
    store_id: str | None
    emails: tuple[str, ...]


class NotifyAdmin:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.contacts = MongoContacts(db)
        self.preferences = MongoPreferences(db)
        self.sent_emails = MongoSentEmails(db)
        self.failed_events = MongoFailedEvents(db)

    async def ensure_indexes(self) -> None:
        await self.contacts.ensure_indexes()
        await self.sent_emails.ensure_indexes()

    async def set_contacts(
        self, retailer_id: str, store_id: str | None, emails: list[str]
    ) -> ContactList:
        retailer_id, store_id = _id("retailer", retailer_id), _opt_id("store", store_id)
        clean: list[str] = []
        seen: set[str] = set()
        for raw in emails:
            try:
                address = normalise_address(raw)
            except InvalidAddress as exc:
                raise AdminError(f"--email {exc}") from exc
            if address_key(address) not in seen:
                seen.add(address_key(address))
                clean.append(address)
        await self.contacts.set(retailer_id, store_id, clean, datetime.now(UTC))
        return ContactList(retailer_id, store_id, tuple(clean))

    async def show_contacts(self, retailer_id: str, store_id: str | None) -> list[ContactList]:
        retailer_id, store_id = _id("retailer", retailer_id), _opt_id("store", store_id)
        if store_id is not None:
            emails = await self.contacts.get(retailer_id, store_id)
            return [ContactList(retailer_id, store_id, tuple(emails))]
        docs = await self.contacts.of_retailer(retailer_id)
        lists = [ContactList(retailer_id, d.get("store_id"), tuple(d["emails"])) for d in docs]
        if not any(c.store_id is None for c in lists):
            lists.insert(0, ContactList(retailer_id, None, ()))
        return lists

    async def preferences_of(self, retailer_id: str) -> Preferences:
        return await self.preferences.get(_id("retailer", retailer_id))

    async def set_preferences(
        self, retailer_id: str, statuses: list[str] | None, mode: str | None
    ) -> Preferences:
        current = await self.preferences_of(retailer_id)
        kinds = current.statuses
        if statuses is not None:
            try:
                kinds = parse_statuses(statuses)
            except UnknownStatusName as exc:
                raise AdminError(f"--statuses: {exc}") from exc
        chosen = current.mode
        if mode is not None:
            try:
                chosen = Mode(mode.strip().lower())
            except ValueError as exc:
                raise AdminError(f"--mode must be immediate or digest, not {mode!r}") from exc
        prefs = Preferences(current.retailer_id, kinds, chosen)
        await self.preferences.set(prefs, datetime.now(UTC))
        return prefs

    async def emails(
        self, *, status: str | None, report_id: str | None, limit: int
    ) -> list[Document]:
        query: Document = {}
        if status is not None:
            if status not in ("pending", "sent", "failed"):
                raise AdminError(f"--status must be pending, sent or failed, not {status!r}")
            query["status"] = status
        if report_id is not None:
            query["report_id"] = report_id
        return await self.sent_emails.find(query, limit)

    async def failed(self, limit: int) -> list[Document]:
        return await self.failed_events.find({}, limit)


def _id(what: str, value: str) -> str:
    value = value.strip()
    if not value or len(value) > 64 or any(c.isspace() for c in value):
        raise AdminError(f"--{what} must be an id (1-64 characters, no spaces)")
    return value


def _opt_id(what: str, value: str | None) -> str | None:
    return None if value is None else _id(what, value)
