"""Offender profiles and match results in matching's own database.

Profiles are whole documents keyed by profile id and replaced as a whole (they are
small aggregates); every read and write filters on `_id` alone, the one filter FerretDB's
SQLite backend serves without scanning. The profile is kept as a JSON string: it holds
nested arrays (marks), which FerretDB cannot store, and only matching ever reads it.
The in-memory index is rebuilt from them on start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shopwatch.matching.profiles import Profile
from shopwatch.runtime.outbox import OutboxMessage, outbox_fields

Document = dict[str, Any]


class MongoMatching:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.profiles = db["profiles"]
        self.results = db["match_results"]

    async def load_profiles(self) -> list[Profile]:
        return [
            Profile.from_dict(json.loads(doc["profile_json"]))
            async for doc in self.profiles.find({})
        ]

    async def save_profiles(self, profiles: Iterable[Profile]) -> None:
        for profile in profiles:
            await self.profiles.replace_one(
                {"_id": profile.profile_id},
                {"_id": profile.profile_id, "profile_json": json.dumps(profile.to_dict())},
                upsert=True,
            )

    async def record_result(
        self, result_id: str, summary: Document, messages: list[OutboxMessage]
    ) -> bool:
        """The result of one request with its events, once; False if recorded before."""
        try:
            await self.results.insert_one({"_id": result_id, **summary, **outbox_fields(messages)})
        except DuplicateKeyError:
            return False
        return True
