"""Offender profiles and match results in matching's own database.

Profiles are whole documents keyed by profile id and replaced as a whole (they are
small aggregates); every read and write filters on `_id` alone, the one filter FerretDB's
SQLite backend serves without scanning. The profile is kept as a JSON string: it holds
nested arrays (marks), which FerretDB cannot store, and only matching ever reads it.
The in-memory index is rebuilt from them on start.

Store locations (one small document per store that sent a located request) let the
matcher tell nearby stores apart after a restart.

The forces' link decisions are kept one document per (offender, profile) pair, the
latest decision winning, and a profile merged into another by a confirmation leaves an
alias document so decisions naming the old id still find it after a restart.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shopwatch.matching.domain import LinkOverride
from shopwatch.matching.geography import Location
from shopwatch.matching.profiles import Profile
from shopwatch.runtime.db import upsert_one
from shopwatch.runtime.outbox import OutboxMessage, outbox_fields

Document = dict[str, Any]


class MongoMatching:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.profiles = db["profiles"]
        self.results = db["match_results"]
        self.decisions = db["link_decisions"]
        self.aliases = db["profile_aliases"]
        self.store_locations = db["store_locations"]

    async def load_store_locations(self) -> dict[str, Location]:
        return {
            doc["_id"]: (float(doc["latitude"]), float(doc["longitude"]))
            async for doc in self.store_locations.find({})
        }

    async def save_store_location(self, store_id: str, location: Location) -> None:
        await upsert_one(
            self.store_locations,
            {"_id": store_id},
            {"$set": {"latitude": location[0], "longitude": location[1]}},
        )

    async def load_profiles(self) -> list[Profile]:
        return [
            Profile.from_dict(json.loads(doc["profile_json"]))
            async for doc in self.profiles.find({})
        ]

    async def profile_batches(self, size: int = 1_000) -> AsyncIterator[list[Profile]]:
        """The stored profiles a batch at a time: the matcher packs each as it comes, so
        a million never exist as objects at once (about 2.7 GiB)."""
        batch: list[Profile] = []
        async for doc in self.profiles.find({}, batch_size=size):
            batch.append(Profile.from_dict(json.loads(doc["profile_json"])))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    async def save_profiles(self, profiles: Iterable[Profile]) -> None:
        for profile in profiles:
            await self.profiles.replace_one(
                {"_id": profile.profile_id},
                {"_id": profile.profile_id, "profile_json": json.dumps(profile.to_dict())},
                upsert=True,
            )

    async def load_decisions(self) -> list[LinkOverride]:
        """Every remembered decision, oldest first (a later one on a pair wins)."""
        docs = [doc async for doc in self.decisions.find({})]
        docs.sort(key=lambda d: str(d.get("decided_at", "")))
        return [LinkOverride.from_dict(doc["decision"]) for doc in docs]

    async def save_decision(self, decision: LinkOverride, decided_at: str) -> bool:
        """Keep the decision unless a later one on the same pair is stored already
        (then False: the older decision must not be applied)."""
        pair_id = f"{decision.report_id}:{decision.offender_index}:{decision.profile_id}"
        stored = await self.decisions.find_one({"_id": pair_id})
        if stored is not None and str(stored.get("decided_at", "")) > decided_at:
            return False
        await self.decisions.replace_one(
            {"_id": pair_id},
            {"_id": pair_id, "decision": decision.to_dict(), "decided_at": decided_at},
            upsert=True,
        )
        return True

    async def load_aliases(self) -> dict[str, str]:
        return {str(doc["_id"]): str(doc["into"]) async for doc in self.aliases.find({})}

    async def merge_profiles(self, merged: Iterable[tuple[str, str]]) -> None:
        """Profiles merged away: an alias first, then the document goes (after a crash
        between the two, the start skips profiles that have an alias)."""
        for gone, into in merged:
            await self.aliases.replace_one({"_id": gone}, {"_id": gone, "into": into}, upsert=True)
            await self.profiles.delete_one({"_id": gone})

    async def record_result(
        self, result_id: str, summary: Document, messages: list[OutboxMessage]
    ) -> bool:
        """The result of one request with its events, once; False if recorded before."""
        try:
            await self.results.insert_one({"_id": result_id, **summary, **outbox_fields(messages)})
        except DuplicateKeyError:
            return False
        return True
