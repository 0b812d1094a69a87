"""Cases in routing's own database, saved with optimistic concurrency.

Reports, evidence, matching results and force updates for one case arrive on different
topics and so may be handled at the same moment; each save names the version it read
and fails if another save came first, and the service then re-reads and re-decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shopwatch.routing.case import CaseState
from shopwatch.runtime.outbox import OutboxMessage, merge_updates, outbox_fields, outbox_push

Document = dict[str, Any]
APPLIED_EVENTS_KEPT = 500


class ConcurrentUpdate(Exception):
    """Another save changed the case after it was read."""


@dataclass(frozen=True)
class LoadedCase:
    state: CaseState
    version: int  # 0: not stored yet
    applied_events: tuple[str, ...]


class MongoCases:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["cases"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("case.force", 1), ("case.status", 1)])

    async def load(self, case_id: str) -> LoadedCase | None:
        doc = await self.collection.find_one({"_id": case_id}, {"outbox": 0})
        if doc is None:
            return None
        return LoadedCase(
            CaseState.model_validate(doc["case"]), doc["version"], tuple(doc["applied_events"])
        )

    async def save(
        self,
        loaded: LoadedCase | None,
        state: CaseState,
        event_id: str,
        messages: list[OutboxMessage],
    ) -> Document | None:
        """Write the case; for a new case, return the document as inserted (the outbox
        relay then need not read it back)."""
        applied = [*(loaded.applied_events if loaded else ()), event_id][-APPLIED_EVENTS_KEPT:]
        fields = {
            "case": state.model_dump(mode="json"),
            "applied_events": applied,
            "force": state.force,
            "status": str(state.status) if state.status else None,
        }
        if loaded is None:
            doc = {"_id": state.case_id, "version": 1, **fields}
            if messages:
                doc.update(outbox_fields(messages))
            try:
                await self.collection.insert_one(doc)
            except DuplicateKeyError as exc:
                raise ConcurrentUpdate(state.case_id) from exc
            return doc
        update: dict[str, Any] = {"$set": {**fields, "version": loaded.version + 1}}
        if messages:
            update = merge_updates(update, outbox_push(messages))
        result = await self.collection.update_one(
            {"_id": state.case_id, "version": loaded.version}, update
        )
        if result.matched_count == 0:
            raise ConcurrentUpdate(state.case_id)
        return None

    async def forward(self, doc_id: str, messages: list[OutboxMessage]) -> bool:
        """Record events to pass on, once: False if this forward was recorded before.

        Kept in the cases collection (ids with a ':' can never be case ids) so the one
        outbox relay of this collection publishes them too.
        """
        try:
            await self.collection.insert_one({"_id": doc_id, **outbox_fields(messages)})
        except DuplicateKeyError:
            return False
        return True

    async def cases_of_force(self, force: str, case_ids: list[str]) -> list[str]:
        cursor = self.collection.find({"_id": {"$in": case_ids}, "force": force}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]
