"""Concurrent upserts of one new document on the real FerretDB: neither fails.

Evidence learns of a report from two topics with two consumers; in CI's fault run both
upserted the same new report at once and one lost with E11000 (dead-lettered). Plain
`update_one(..., upsert=True)` fails this test on FerretDB (55 of 300 pairs measured).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.runtime.db import upsert_one

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PAIRS = 200


async def test_two_upserts_of_one_new_document_both_apply(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    reports = database[f"reports_{uuid.uuid4().hex[:6]}"]
    ids = [f"rep_{uuid.uuid4().hex}" for _ in range(PAIRS)]
    failures: list[BaseException] = []
    for report_id in ids:
        outcomes = await asyncio.gather(
            upsert_one(reports, {"_id": report_id}, {"$set": {"store_id": "st_1"}}),
            upsert_one(reports, {"_id": report_id}, {"$setOnInsert": {"case_sequence": 0}}),
            return_exceptions=True,
        )
        failures += [o for o in outcomes if isinstance(o, BaseException)]
    assert not failures, f"{len(failures)} of {PAIRS} pairs failed: {failures[:3]}"
    docs = {d["_id"]: d async for d in reports.find({"_id": {"$in": ids}})}
    assert len(docs) == PAIRS
    # The $set always lands; $setOnInsert only if it was the insert, so it may be absent.
    assert all(doc["store_id"] == "st_1" for doc in docs.values())
