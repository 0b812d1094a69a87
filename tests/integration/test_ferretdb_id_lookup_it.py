"""Lookups by `_id` on the real database: right answers, and FerretDB uses its `_id` index.

FerretDB 1.24 is built with two source edits (deploy/local/ferretdb_patches.py) so that a
find, update or delete by `_id` reads one row instead of scanning the table; every
service's writes depend on it. These tests pin both the answers (a filter with `_id` and
more keys still applies every key) and, on FerretDB, the query plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

if TYPE_CHECKING:
    from tests.conftest import StackEnv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DOCUMENTS = 2_000


@pytest.fixture(scope="module")
def client(stack_env: StackEnv) -> Iterator[MongoClient[dict[str, Any]]]:
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack_env.mongo_url)
    yield mongo
    mongo.close()


@pytest.fixture
def docs(
    client: MongoClient[dict[str, Any]], mongo_db_name: Callable[[str], str]
) -> Collection[dict[str, Any]]:
    collection = client[mongo_db_name("ids")]["docs"]
    collection.drop()
    collection.insert_many(
        [{"_id": f"d{i}", "v": 0, "state": "new", "tags": ["a", f"t{i}"]} for i in range(DOCUMENTS)]
    )
    return collection


def test_a_filter_with_id_and_more_keys_applies_every_key(
    docs: Collection[dict[str, Any]],
) -> None:
    assert docs.find_one({"_id": "d5", "v": 0}) is not None
    assert docs.find_one({"_id": "d5", "v": 1}) is None
    assert docs.find_one({"tags": "t5", "_id": "d5"}) is not None
    assert docs.find_one({"_id": "d5", "tags": "t6"}) is None
    assert docs.count_documents({"_id": {"$in": ["d1", "d2", "nope"]}}) == 2


def test_conditional_writes_by_id_only_touch_matching_documents(
    docs: Collection[dict[str, Any]],
) -> None:
    assert docs.update_one({"_id": "d7", "v": 0}, {"$set": {"v": 1}}).modified_count == 1
    assert docs.update_one({"_id": "d7", "v": 0}, {"$set": {"v": 2}}).matched_count == 0
    assert docs.find_one({"_id": "d7"}) == {
        "_id": "d7",
        "v": 1,
        "state": "new",
        "tags": ["a", "t7"],
    }
    claimed = docs.find_one_and_update({"_id": "d8", "state": "new"}, {"$set": {"state": "mine"}})
    assert claimed is not None and claimed["state"] == "new"
    assert docs.find_one_and_update({"_id": "d8", "state": "new"}, {"$set": {"state": "x"}}) is None
    assert docs.delete_one({"_id": "d9", "state": "old"}).deleted_count == 0
    assert docs.delete_one({"_id": "d9", "state": "new"}).deleted_count == 1
    assert docs.count_documents({}) == DOCUMENTS - 1
    assert docs.count_documents({"v": 0}) == DOCUMENTS - 2


def test_ferretdb_reads_one_row_by_id_through_the_index(
    docs: Collection[dict[str, Any]],
) -> None:
    database = docs.database
    plan = database.command("explain", {"find": docs.name, "filter": {"_id": "d5"}})
    if "ferretdbVersion" not in plan.get("serverInfo", {}):
        pytest.skip("query plans are FerretDB's; this server is MongoDB")
    steps = " ".join(plan["queryPlanner"]["Plan"])
    assert "USING INDEX" in steps, f"an _id lookup scans the table: {steps}"
