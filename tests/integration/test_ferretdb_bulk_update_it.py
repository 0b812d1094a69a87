"""One `update` command of many statements on the real database answers, and applies each.

The outbox relay clears a whole published batch (up to 100 documents) with one
`bulk_write`. FerretDB 1.24 as released kept every statement's query open until the
command ended, each holding one of its 100 SQLite connections, so a command of 100
statements or more never answered; deploy/local/ferretdb_patches.py closes each query when
its statement is done. Without that edit this test fails on the socket timeout below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import MongoClient, UpdateOne
from pymongo.errors import NetworkTimeout

if TYPE_CHECKING:
    from tests.conftest import StackEnv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

STATEMENTS = 250


@pytest.fixture(scope="module")
def client(stack_env: StackEnv) -> Iterator[MongoClient[dict[str, Any]]]:
    # A hang shows as a clear failure in 30 s, not as the test's own timeout.
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack_env.mongo_url, socketTimeoutMS=30_000)
    yield mongo
    mongo.close()


def test_a_bulk_write_of_more_statements_than_connections_applies_each(
    client: MongoClient[dict[str, Any]], mongo_db_name: Callable[[str], str]
) -> None:
    docs = client[mongo_db_name("bulk")]["docs"]
    docs.drop()
    docs.insert_many(
        [{"_id": f"d{i}", "outbox": [{"sent": i}, {"later": i}]} for i in range(STATEMENTS + 10)]
    )
    clears = [
        UpdateOne({"_id": f"d{i}"}, {"$pullAll": {"outbox": [{"sent": i}]}})
        for i in range(STATEMENTS)
    ]

    try:
        result = docs.bulk_write(clears, ordered=False)
    except NetworkTimeout:
        pytest.fail(
            f"a bulk_write of {STATEMENTS} updates got no answer in 30 s: is FerretDB built "
            "without the msg_update edit of deploy/local/ferretdb_patches.py?"
        )

    assert (result.matched_count, result.modified_count) == (STATEMENTS, STATEMENTS)
    left = {d["_id"]: d["outbox"] for d in docs.find({}, {"outbox": 1})}
    assert all(left[f"d{i}"] == [{"later": i}] for i in range(STATEMENTS))
    untouched = range(STATEMENTS, STATEMENTS + 10)
    assert all(left[f"d{i}"] == [{"sent": i}, {"later": i}] for i in untouched)
