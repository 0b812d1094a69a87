"""Retailers, stores and API keys in intake's own MongoDB database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.intake.tenancy import ApiKeyRecord, Retailer, Store
from shopwatch.schemas.report import Location

Document = dict[str, Any]


class MongoTenants:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._retailers = db["retailers"]
        self._stores = db["stores"]
        self._keys = db["api_keys"]

    async def ensure_indexes(self) -> None:
        await self._stores.create_index([("retailer_id", 1)])
        await self._keys.create_index([("retailer_id", 1)])

    async def add_retailer(self, retailer: Retailer) -> None:
        await self._retailers.insert_one(
            {
                "_id": retailer.retailer_id,
                "name": retailer.name,
                "created_at": retailer.created_at,
                "notification_emails": list(retailer.notification_emails),
            }
        )

    async def get_retailer(self, retailer_id: str) -> Retailer | None:
        doc = await self._retailers.find_one({"_id": retailer_id})
        if doc is None:
            return None
        return Retailer(
            retailer_id=doc["_id"],
            name=doc["name"],
            created_at=doc["created_at"],
            notification_emails=tuple(doc.get("notification_emails", ())),
        )

    async def list_retailers(self) -> list[Retailer]:
        found = [r async for r in self._retailers.find({}).sort("created_at", 1).limit(10_000)]
        return [
            Retailer(d["_id"], d["name"], d["created_at"], tuple(d.get("notification_emails", ())))
            for d in found
        ]

    async def add_store(self, store: Store) -> None:
        await self._stores.insert_one(
            {
                "_id": store.store_id,
                "retailer_id": store.retailer_id,
                "name": store.name,
                "address_lines": list(store.address_lines),
                "town": store.town,
                "postcode": store.postcode,
                "location": store.location.model_dump() if store.location else None,
                "force_override": store.force_override,
                "notification_emails": list(store.notification_emails),
                "created_at": store.created_at,
            }
        )

    async def get_store(self, store_id: str) -> Store | None:
        doc = await self._stores.find_one({"_id": store_id})
        return None if doc is None else _store(doc)

    async def stores_of(self, retailer_id: str) -> list[Store]:
        cursor = self._stores.find({"retailer_id": retailer_id}).sort("created_at", 1)
        return [_store(doc) async for doc in cursor.limit(10_000)]

    async def add_key(self, key: ApiKeyRecord) -> None:
        await self._keys.insert_one(
            {
                "_id": key.key_id,
                "retailer_id": key.retailer_id,
                "secret_hash": key.secret_hash,
                "label": key.label,
                "created_at": key.created_at,
                "revoked_at": None,
            }
        )

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        doc = await self._keys.find_one({"_id": key_id})
        if doc is None:
            return None
        return ApiKeyRecord(
            key_id=doc["_id"],
            retailer_id=doc["retailer_id"],
            secret_hash=doc["secret_hash"],
            created_at=doc["created_at"],
            label=doc.get("label", ""),
            revoked_at=doc.get("revoked_at"),
        )

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        result = await self._keys.update_one(
            {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return result.modified_count == 1


def _store(doc: Document) -> Store:
    location = doc.get("location")
    return Store(
        store_id=doc["_id"],
        retailer_id=doc["retailer_id"],
        name=doc["name"],
        address_lines=tuple(doc["address_lines"]),
        town=doc["town"],
        postcode=doc["postcode"],
        created_at=doc["created_at"],
        location=Location.model_validate(location) if location else None,
        force_override=doc.get("force_override"),
        notification_emails=tuple(doc.get("notification_emails", ())),
    )
