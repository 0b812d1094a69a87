from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from shopwatch.runtime.db import upsert_one


class LosesTheInsertOnce:
    """A collection whose first upsert loses the race for a new `_id` to another one."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def update_one(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append((*args, kwargs))
        if len(self.calls) == 1:
            raise DuplicateKeyError("E11000 duplicate key error", 11000)
        return "updated"


async def test_an_upsert_that_loses_the_insert_is_applied_again() -> None:
    collection: Any = LosesTheInsertOnce()
    result: Any = await upsert_one(collection, {"_id": "rep_1"}, {"$set": {"x": 1}})
    assert result == "updated"
    assert collection.calls == [({"_id": "rep_1"}, {"$set": {"x": 1}}, {"upsert": True})] * 2


class AlwaysDuplicate:
    async def update_one(self, *_: Any, **__: Any) -> str:
        raise DuplicateKeyError("E11000 on another unique index", 11000)


async def test_a_duplicate_that_persists_is_raised() -> None:
    # Not a lost race (a second unique index, say): retrying once more would not help.
    collection: Any = AlwaysDuplicate()
    with pytest.raises(DuplicateKeyError):
        await upsert_one(collection, {"_id": "rep_1"}, {"$set": {"email": "x"}})
