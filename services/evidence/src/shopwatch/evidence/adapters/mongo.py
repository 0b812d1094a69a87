"""Evidence's own database: evidence items, the continuity log, what it knows of reports
(from ``reports.submitted``/``cases.status-changed``) and the force tokens.

A state change of an evidence item and the event that announces it go into ONE update of
the item's document (FerretDB has no multi-document transactions). FerretDB 1.x does not
isolate conditional updates or find-and-modify from each other, so anything two writers
could race for is decided by an insert against a unique index: claims of work
(``claims``), continuity-log slots (``custody``), upload sessions and exhibit references.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shopwatch.runtime.db import upsert_one

Document = dict[str, Any]

EVIDENCE = "evidence"
CUSTODY = "custody"
CLAIMS = "claims"
REPORTS = "reports"
FORCE_TOKENS = "force_tokens"

# Plumbing nobody outside the service needs to see.
INTERNAL_FIELDS = (
    "outbox",
    "outbox_pending_since",
    "lease_owner",
    "lease_until",
    "upload_id",
    "open_key",
)


class Duplicate(Exception):
    """An insert hit a unique index."""


class MongoEvidence:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.evidence: AsyncCollection[Document] = db[EVIDENCE]
        self.custody: AsyncCollection[Document] = db[CUSTODY]
        self.claims: AsyncCollection[Document] = db[CLAIMS]
        self.reports: AsyncCollection[Document] = db[REPORTS]
        self.force_tokens: AsyncCollection[Document] = db[FORCE_TOKENS]

    async def ensure_indexes(self) -> None:
        # One open upload per (report, file hash, size): a re-run of the CLI finds its
        # session again. Closed items get a key of their own (see service.close_key).
        await self.evidence.create_index([("open_key", ASCENDING)], unique=True)
        await self.evidence.create_index(
            [("report_id", ASCENDING), ("exhibit_ref", ASCENDING)], unique=True
        )
        await self.evidence.create_index([("job", ASCENDING), ("lease_until", ASCENDING)])
        await self.evidence.create_index([("status", ASCENDING), ("updated_at", ASCENDING)])
        await self.evidence.create_index([("report_id", ASCENDING), ("_id", ASCENDING)])
        # The log's append-only guarantee: one entry per (evidence, seq), so two writers
        # can never both chain onto the same head.
        await self.custody.create_index(
            [("evidence_id", ASCENDING), ("seq", ASCENDING)], unique=True
        )
        await self.force_tokens.create_index([("force", ASCENDING)])

    # --- evidence items ------------------------------------------------------------------

    async def insert(self, doc: Document) -> None:
        try:
            await self.evidence.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Duplicate(str(exc)) from exc

    async def get(self, evidence_id: str) -> Document | None:
        return await self.evidence.find_one({"_id": evidence_id})

    async def by_open_key(self, open_key: str) -> Document | None:
        return await self.evidence.find_one({"open_key": open_key})

    async def for_report(self, report_id: str) -> list[Document]:
        cursor = self.evidence.find({"report_id": report_id}).sort("_id", ASCENDING)
        return [doc async for doc in cursor.limit(1000)]

    async def exhibit_refs(self, report_id: str) -> list[str]:
        cursor = self.evidence.find({"report_id": report_id}, {"exhibit_ref": 1})
        return [str(d["exhibit_ref"]) async for d in cursor]

    async def update(self, query: Document, update: Document) -> bool:
        result = await self.evidence.update_one(query, update)
        return result.modified_count == 1

    async def claim(self, now: datetime, lease_until: datetime, owner: str) -> Document | None:
        """Take an item with work to do whose lease is free or expired, or None.

        The claim is an insert of ``<evidence_id>:<attempt>`` into ``claims``: of several
        workers that saw the same item at the same attempt, exactly one insert succeeds.
        So ``attempts`` only ever grows: a new job on the item continues the count.
        """
        cursor = (
            self.evidence.find(
                {"job": {"$in": ["verify", "stills"]}, "lease_until": {"$lt": now}},
                {"_id": 1, "attempts": 1},
            )
            .sort("lease_until", ASCENDING)
            .limit(10)
        )
        async for candidate in cursor:
            attempt = int(candidate.get("attempts") or 0)
            try:
                await self.claims.insert_one(
                    {"_id": f"{candidate['_id']}:{attempt}", "owner": owner, "at": now}
                )
            except DuplicateKeyError:
                continue
            await self.evidence.update_one(
                {"_id": candidate["_id"]},
                {
                    "$set": {
                        "lease_until": lease_until,
                        "lease_owner": owner,
                        "attempts": attempt + 1,
                    }
                },
            )
            return await self.get(str(candidate["_id"]))
        return None

    async def find(self, query: Document, limit: int, sort: str = "_id") -> list[Document]:
        cursor = self.evidence.find(query).sort(sort, ASCENDING)
        return [doc async for doc in cursor.limit(limit)]

    # --- continuity log --------------------------------------------------------------------

    async def custody_entries(self, evidence_id: str) -> list[Document]:
        cursor = self.custody.find({"evidence_id": evidence_id}, {"_id": 0}).sort("seq", ASCENDING)
        return [doc async for doc in cursor]

    async def last_custody_entry(self, evidence_id: str) -> Document | None:
        cursor = (
            self.custody.find({"evidence_id": evidence_id}, {"_id": 0})
            .sort("seq", DESCENDING)
            .limit(1)
        )
        async for doc in cursor:
            return doc
        return None

    async def insert_custody(self, entry: Document) -> None:
        """Raises ``DuplicateKeyError`` when the (evidence_id, seq) slot is taken."""
        await self.custody.insert_one(
            {"_id": f"{entry['evidence_id']}:{int(entry['seq']):09d}", **entry}
        )

    # --- reports, as learnt from events ------------------------------------------------------

    async def report(self, report_id: str) -> Document | None:
        return await self.reports.find_one({"_id": report_id})

    async def record_report(self, report_id: str, fields: Document) -> None:
        await upsert_one(self.reports, {"_id": report_id}, {"$set": fields})

    async def ensure_report_stub(self, report_id: str) -> None:
        await upsert_one(self.reports, {"_id": report_id}, {"$setOnInsert": {"case_sequence": 0}})

    async def apply_case_status(self, report_id: str, sequence: int, fields: Document) -> bool:
        """Record a newer case status; an older or repeated one changes nothing."""
        result = await self.reports.update_one(
            {
                "_id": report_id,
                "$or": [
                    {"case_sequence": {"$lt": sequence}},
                    {"case_sequence": {"$exists": False}},
                ],
            },
            {"$set": {**fields, "case_sequence": sequence}},
        )
        return result.modified_count == 1

    # --- force tokens --------------------------------------------------------------------------

    async def force_token(self, token_id: str) -> Document | None:
        return await self.force_tokens.find_one({"_id": token_id})

    async def list_force_tokens(self, force: str | None = None) -> list[Document]:
        query: Document = {} if force is None else {"force": force}
        cursor = self.force_tokens.find(query, {"hash": 0}).sort("created_at", DESCENDING)
        return [doc async for doc in cursor]
