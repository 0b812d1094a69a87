"""The benchmarks' cheap document count agrees with the database's own count."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import MongoClient

from bench.common import document_count

if TYPE_CHECKING:
    from tests.conftest import StackEnv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_document_count_matches_count_documents_and_a_missing_collection_is_zero(
    stack_env: StackEnv, mongo_db_name: Callable[[str], str]
) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(stack_env.mongo_url)
    try:
        database = mongo_db_name("count")
        client[database]["docs"].insert_many([{"n": n} for n in range(137)])
        assert document_count(client, database, "docs") == 137
        client[database]["docs"].delete_many({"n": {"$lt": 7}})
        assert document_count(client, database, "docs") == 130
        assert document_count(client, database, "nothing_here") == 0
    finally:
        client.close()
