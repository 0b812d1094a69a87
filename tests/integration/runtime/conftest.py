"""Fixtures for the runtime's integration tests, on the REAL local stack.

They read the endpoints the stack wrote (`set -a; . .cache/local/stack.env; set +a`) and
fail, never skip, when they are missing: an integration test that silently does not run
proves nothing. Isolation: every test gets its own random topic prefix (topics created
here, deleted afterwards) and every module its own database (dropped afterwards).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from pydantic import SecretStr
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.runtime.db import mongo_client
from shopwatch.runtime.settings import RuntimeSettings

pytestmark = pytest.mark.integration


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: start the local stack (make stack-up) and load its "
            "endpoints with `set -a; . .cache/local/stack.env; set +a`",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required_env("SHOPWATCH_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def mongo_url() -> str:
    return _required_env("SHOPWATCH_MONGO_URL")


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(kafka_bootstrap: str, mongo_url: str, prefix: str) -> RuntimeSettings:
    return RuntimeSettings(
        kafka_bootstrap=kafka_bootstrap,
        mongo_url=SecretStr(mongo_url),
        topic_prefix=prefix,
        service_name="runtime-it",
        consumer_backoff_initial_s=0.01,
        consumer_backoff_max_s=0.05,
        outbox_poll_interval_s=0.2,
        health_check_timeout_s=2.0,
    )


@pytest.fixture(scope="module")
async def mongo(mongo_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client = mongo_client(
        RuntimeSettings(mongo_url=SecretStr(mongo_url), service_name="runtime-it")
    )
    yield client
    await client.close()


@pytest.fixture(scope="module")
async def database(
    mongo: AsyncMongoClient[dict[str, Any]],
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    name = f"it_runtime_{uuid.uuid4().hex[:10]}"
    yield mongo[name]
    await mongo.drop_database(name)


@pytest.fixture
async def topics(kafka_bootstrap: str) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """`await topics(name, ..., partitions=n)` creates physical topics for this test."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def create(*names: str, partitions: int = 1) -> None:
        await admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        )
        created.extend(names)
        await _wait_for_topics(admin, names)

    try:
        yield create
    finally:
        if created:
            await admin.delete_topics(created)
        await admin.close()


async def _wait_for_topics(admin: Any, names: tuple[str, ...], timeout_s: float = 15) -> None:
    # Topic creation returns before every broker knows the leaders; a producer racing
    # it gets UnknownTopicOrPartition. Wait until the metadata lists them.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        existing = set(await admin.list_topics())
        if set(names) <= existing:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"topics {names} not visible after {timeout_s}s")


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


async def _read_topic(
    bootstrap: str,
    topic: str,
    *,
    expect: int,
    timeout_s: float = 20,
    settle_s: float = 1.0,
) -> list[Record]:
    """Every record on `topic` from the beginning: waits for `expect` records, then
    keeps reading `settle_s` more so a duplicate arriving late is seen too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        deadline = time.monotonic() + timeout_s
        while not partitions and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        assert partitions, f"topic {topic} does not exist"
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        records: list[Record] = []
        settle_until: float | None = None
        while True:
            now = time.monotonic()
            if settle_until is None and len(records) >= expect:
                settle_until = now + settle_s
            if (settle_until is not None and now >= settle_until) or now >= deadline:
                return records
            batch = await consumer.getmany(timeout_ms=100)
            for tp_records in batch.values():
                records.extend(
                    Record(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key,
                        r.value,
                        {k: v.decode() for k, v in (r.headers or ())},
                    )
                    for r in tp_records
                )
    finally:
        await consumer.stop()


async def _eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 20, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout_s}s")


ReadTopic = Callable[..., Awaitable[list[Record]]]
Eventually = Callable[..., Awaitable[None]]


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> ReadTopic:
    """`await read_topic(topic, expect=n)`: the records on a topic (see `_read_topic`)."""

    async def read(topic: str, **options: Any) -> list[Record]:
        return await _read_topic(kafka_bootstrap, topic, **options)

    return read


@pytest.fixture
def eventually() -> Eventually:
    """`await eventually(async_check, what=...)`: poll until true, fail after a timeout."""
    return _eventually
