"""The pruner on the real database: old records go, recent ones stay, on its own schedule."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.runtime.processed import MongoProcessedEvents
from shopwatch.runtime.processed_pruning import ProcessedEventsPruner

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_the_running_pruner_deletes_only_records_older_than_kept(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    processed = MongoProcessedEvents(database[f"processed_pruner_{uuid.uuid4().hex[:6]}"])
    await processed.ensure_indexes()
    for n in range(20):
        assert await processed.record("g", f"e-{n}", topic="t", partition=0, offset=n)
    old_ids = [processed.record_id("g", f"e-{n}") for n in range(0, 20, 2)]
    await processed.collection.update_many(
        {"_id": {"$in": old_ids}},
        {"$set": {"processed_at": datetime.now(UTC) - timedelta(days=32)}},
    )

    pruner = ProcessedEventsPruner(processed, keep=timedelta(days=31), interval_s=0.2)
    pruner.start()
    try:
        for _ in range(100):
            if await processed.collection.count_documents({}) == 10:
                break
            await asyncio.sleep(0.1)
    finally:
        await pruner.stop()

    left = {d["_id"] async for d in processed.collection.find({}, {"_id": 1})}
    assert left == {processed.record_id("g", f"e-{n}") for n in range(1, 20, 2)}
