"""Reports, their status timelines and the day counters for human references.

A report document holds the accepted report, its timeline and its pending outbox events
together, so accepting a report and announcing it is one single-document write: there is
no moment where one exists without the other (FerretDB has no multi-document transactions).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shopwatch.intake.pagination import Cursor

Document = dict[str, Any]

_DUPLICATE_KEY = 11000

# Reference numbers a process claims at once: one round trip per hundred reports.
REFERENCE_BLOCK = 100

# Fields a retailer never needs to see: plumbing of exactly-once delivery.
_INTERNAL_FIELDS = {"outbox": 0, "applied_events": 0, "fingerprint": 0}


class DuplicateReport(Exception):
    """A report with this id (so this retailer's idempotency key) already exists."""


class MongoReports:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["reports"]
        self._counters = db["reference_counters"]
        # This process's current block of reference numbers (see `next_sequences`).
        self._allocating = asyncio.Lock()
        self._block_day = ""
        self._next_block = self._next = self._end = 0

    async def ensure_indexes(self) -> None:
        # Idempotency needs no index: a keyed report's _id is derived from the key (see
        # tenancy.report_id_for_key), so a replay collides on _id, the one lookup that
        # FerretDB's SQLite backend serves without scanning.
        await self.collection.create_index([("retailer_id", 1), ("submitted_at", -1), ("_id", -1)])

    async def next_sequence(self, day: str) -> int:
        (sequence,) = await self.next_sequences(day, 1)
        return sequence

    async def next_sequences(self, day: str, count: int) -> list[int]:
        """`count` numbers for the day's human references, never handed out twice.

        A process claims numbers a block of `REFERENCE_BLOCK` at a time by inserting the
        block's document (`<day>:<block>`): an insert whose _id is taken fails on the
        unique index, atomically on MongoDB and FerretDB alike. A day counter bumped
        with `findAndModify` `$inc` is not safe on FerretDB 1.24: concurrent calls got
        the same number (two reports, one reference) and increments were lost, and the
        day's first upserts raced into duplicate-key errors. Numbers are unique but not
        in time order across processes, and a restart leaves the rest of a block unused.
        """
        async with self._allocating:
            if self._block_day != day:
                self._block_day, self._next_block, self._next, self._end = day, 0, 0, 0
            numbers: list[int] = []
            while len(numbers) < count:
                if self._next >= self._end:
                    await self._claim_block(day)
                take = min(count - len(numbers), self._end - self._next)
                numbers.extend(range(self._next, self._next + take))
                self._next += take
            return numbers

    async def _claim_block(self, day: str) -> None:
        # Claimed blocks always form a prefix (everyone claims the lowest free one), so
        # walking up from the last block this process knew of finds the next free one; a
        # fresh process walks the day's claimed blocks once, a millisecond or two each.
        block = self._next_block
        while True:
            try:
                await self._counters.insert_one({"_id": f"{day}:{block:06d}"})
                break
            except DuplicateKeyError:
                block += 1
        self._next_block = block + 1
        self._next, self._end = block * REFERENCE_BLOCK + 1, (block + 1) * REFERENCE_BLOCK + 1

    async def insert(self, doc: Document) -> None:
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise DuplicateReport(doc["_id"]) from exc

    async def insert_many(self, docs: list[Document]) -> set[int]:
        """Insert what can be inserted; return the indexes that were duplicates.

        One unordered bulk insert, one round trip for the whole batch (500 documents on
        FerretDB: 0.06 s, against 0.66 s one by one). Its write errors name each
        duplicate by index, on MongoDB and on FerretDB 1.24 alike (checked with
        duplicates both already stored and repeated within the batch), and knowing
        exactly which items were duplicates is what makes a batch resumable.
        """
        if not docs:
            return set()
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            return {int(e["index"]) for e in errors}
        return set()

    async def by_id(self, report_id: str) -> Document | None:
        """The fields a replay answers with (the caller derived the id from its key)."""
        return await self.collection.find_one(
            {"_id": report_id}, {"_id": 1, "retailer_id": 1, "reference": 1, "fingerprint": 1}
        )

    async def get(self, retailer_id: str, report_id: str) -> Document | None:
        # The retailer id is part of every query: another retailer's report is simply
        # not found, which the API answers with a 404.
        return await self.collection.find_one(
            {"_id": report_id, "retailer_id": retailer_id}, _INTERNAL_FIELDS
        )

    async def list(
        self,
        retailer_id: str,
        *,
        store_id: str | None,
        status: str | None,
        submitted_from: datetime | None,
        submitted_to: datetime | None,
        after: Cursor | None,
        limit: int,
    ) -> list[Document]:
        query: Document = {"retailer_id": retailer_id}
        if store_id:
            query["store_id"] = store_id
        if status:
            query["status"] = status
        window: Document = {}
        if submitted_from:
            window["$gte"] = submitted_from
        if submitted_to:
            window["$lt"] = submitted_to
        if window:
            query["submitted_at"] = window
        if after is not None:
            query["$or"] = [
                {"submitted_at": {"$lt": after.created_at}},
                {"submitted_at": after.created_at, "_id": {"$lt": after.report_id}},
            ]
        projection = {
            "_id": 1,
            "reference": 1,
            "store_id": 1,
            "status": 1,
            "submitted_at": 1,
            "occurred_at": 1,
            "offence_type": 1,
        }
        cursor = self.collection.find(query, projection).sort([("submitted_at", -1), ("_id", -1)])
        return [doc async for doc in cursor.limit(limit)]

    async def append_status(
        self, report_id: str, event_id: str, status: str, entry: Document
    ) -> bool:
        """Apply one status change once: the event id guards against redelivery."""
        result = await self.collection.update_one(
            {"_id": report_id, "applied_events": {"$ne": event_id}},
            {
                "$set": {"status": status},
                "$push": {"timeline": entry, "applied_events": event_id},
            },
        )
        return result.modified_count == 1
