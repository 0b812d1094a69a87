"""Concurrent updates of one document on the real database: each is applied, none lost.

MongoDB applies every update atomically. FerretDB 1.24 reads the matching document,
changes it and writes the whole document back, so an update falling in between was lost
(routing's optimistic saves both won; a relay's removal could undo a service's write);
deploy/local/ferretdb_patches.py (edit 4) applies one collection's updates one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import AsyncMongoClient

if TYPE_CHECKING:
    from tests.conftest import StackEnv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WRITERS = 40


async def test_concurrent_pushes_and_versioned_saves_of_one_document_all_count(
    stack_env: StackEnv, mongo_db_name: Callable[[str], str]
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack_env.mongo_url, maxPoolSize=WRITERS
    )
    try:
        docs = client[mongo_db_name("concurrent")]["docs"]
        await docs.insert_one({"_id": "case", "version": 0, "events": []})

        await asyncio.gather(
            *(docs.update_one({"_id": "case"}, {"$push": {"events": n}}) for n in range(WRITERS))
        )
        pushed = await docs.find_one({"_id": "case"})

        # Optimistic saves: all read version 0; exactly one may win.
        results = await asyncio.gather(
            *(
                docs.update_one({"_id": "case", "version": 0}, {"$set": {"version": 1, "by": n}})
                for n in range(WRITERS)
            )
        )
    finally:
        await client.close()

    assert pushed is not None
    assert sorted(pushed["events"]) == list(range(WRITERS)), (
        f"{WRITERS - len(pushed['events'])} of {WRITERS} concurrent updates were lost"
    )
    assert sum(r.modified_count for r in results) == 1, "two saves of one version both won"
