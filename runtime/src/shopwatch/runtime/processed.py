"""The record of events a consumer has processed: at-least-once delivery, effects once.

One document per (consumer group, event_id), under a unique index, inserted only after
the handler succeeded. A redelivered event (a rebalance, a crash before the commit, a
duplicate from the outbox relay) finds its record and is skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

PROCESSED_EVENTS = "processed_events"

Document = dict[str, Any]


class ProcessedEvents(Protocol):
    async def seen(self, group: str, event_id: str) -> bool: ...

    async def record(
        self, group: str, event_id: str, *, topic: str, partition: int, offset: int
    ) -> bool:
        """Store the record; False if it existed already (processed concurrently)."""


class MongoProcessedEvents:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def ensure_indexes(self) -> None:
        # Unique on the pair: the same event may legitimately be processed by two
        # different consumers of one service, but by each only once.
        await self.collection.create_index(
            [("event_id", 1), ("group", 1)], unique=True, name="event_id_group_unique"
        )

    async def seen(self, group: str, event_id: str) -> bool:
        found = await self.collection.find_one({"event_id": event_id, "group": group}, {"_id": 1})
        return found is not None

    async def record(
        self, group: str, event_id: str, *, topic: str, partition: int, offset: int
    ) -> bool:
        try:
            await self.collection.insert_one(
                {
                    "event_id": event_id,
                    "group": group,
                    "topic": topic,
                    "partition": partition,
                    "offset": offset,
                    "processed_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return False
        return True
