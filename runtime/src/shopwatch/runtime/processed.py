"""The record of events a consumer has processed: at-least-once delivery, effects once.

One document per (consumer group, event_id), inserted only after the handler succeeded.
A redelivered event (a rebalance, a crash before the commit, a duplicate from the
outbox relay) finds its record and is skipped.

The unique index is `_id` itself, `"<group>:<event_id>"`: `_id` is unique on every
server without creating anything, and a lookup by `_id` alone is the one query FerretDB
1.24 (SQLite) answers without scanning the collection, which matters here because this
collection grows with every event and is read for each one.

Records are kept forever unless `prune` is called: MongoDB could expire them with a TTL
index, but FerretDB 1.24 does not implement `expireAfterSeconds`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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
        # Only for `prune`'s range query on MongoDB; uniqueness is `_id`'s.
        await self.collection.create_index([("processed_at", 1)], name="processed_at")

    @staticmethod
    def record_id(group: str, event_id: str) -> str:
        # The same event may be processed by two consumers (groups) of one service, by
        # each once. Group names are ours and never contain ":".
        return f"{group}:{event_id}"

    async def seen(self, group: str, event_id: str) -> bool:
        found = await self.collection.find_one({"_id": self.record_id(group, event_id)}, {"_id": 1})
        return found is not None

    async def record(
        self, group: str, event_id: str, *, topic: str, partition: int, offset: int
    ) -> bool:
        try:
            await self.collection.insert_one(
                {
                    "_id": self.record_id(group, event_id),
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

    async def prune(self, older_than: timedelta) -> int:
        """Delete records older than `older_than` (choose more than the topics'
        retention: an event can only be redelivered while Kafka still holds it)."""
        cutoff = datetime.now(UTC) - older_than
        result = await self.collection.delete_many({"processed_at": {"$lt": cutoff}})
        return result.deleted_count


class RecordedByHandler:
    """For handlers that record the event id themselves, in the same single-document
    write as the event's effect (routing keeps `applied_events` in each case): that
    record is the stronger one (effect and record cannot part), so a second, separate
    record would only cost two database round trips per event. Nothing is stored here;
    the handler answers a redelivery by finding its own record and doing nothing.
    """

    async def seen(self, group: str, event_id: str) -> bool:
        return False

    async def record(
        self, group: str, event_id: str, *, topic: str, partition: int, offset: int
    ) -> bool:
        return True
