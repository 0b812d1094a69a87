"""Fixtures shared by the services' integration tests, on the real local stack.

One topic prefix per test module: every registry topic is created under it (one partition
each, to keep the single local broker light) and deleted when the module is done.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

from shopwatch.runtime.provisioning import ensure_topics
from shopwatch.runtime.service_main import Service
from shopwatch.runtime.settings import RuntimeSettings
from tests.kafka_topics import delete_topics_under

SettingsT = TypeVar("SettingsT", bound=RuntimeSettings)
Record = Any


@pytest.fixture(scope="module")
async def registry_topics(stack_env: Any, topic_prefix: str) -> AsyncIterator[str]:
    """Every registry topic under a prefix of this test module alone; yields the prefix.

    Per module, not per session: a consumer that starts from the beginning of a topic
    (routing, matching, notify) must not be handed every event the modules before it
    produced (a 1,000-report bulk test, say), which made later modules slow and flaky.
    """
    prefix = f"{topic_prefix}{secrets.token_hex(3)}."
    await ensure_topics(stack_env.kafka_bootstrap, prefix=prefix, partitions_override=1)
    yield prefix
    await delete_topics_under(stack_env.kafka_bootstrap, prefix)


@pytest.fixture(scope="session")
def read_topic(stack_env: Any) -> Callable[..., Awaitable[list[Record]]]:
    """Reads a whole topic from the start until it has been quiet for `idle_s`."""

    async def read(
        topic: str,
        *,
        until: Callable[[list[Record]], bool] = lambda _: False,
        idle_s: float = 1.5,
        timeout_s: float = 20.0,
        **consumer_options: Any,
    ) -> list[Record]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=stack_env.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            **consumer_options,
        )
        await consumer.start()
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        try:
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                fresh = [r for rs in batch.values() for r in rs]
                if fresh:
                    records.extend(fresh)
                    quiet_since = time.monotonic()
                if until(records) and time.monotonic() - quiet_since >= idle_s:
                    break
                if not until(records) and time.monotonic() - quiet_since >= timeout_s:
                    break
        finally:
            await consumer.stop()
        return records

    return read


@pytest.fixture(scope="session")
def publish(stack_env: Any) -> Callable[..., Awaitable[None]]:
    async def send(topic: str, value: bytes, key: bytes | None = None) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack_env.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    return send


@asynccontextmanager
async def running(
    settings: SettingsT, wire: Callable[[Service[SettingsT]], None]
) -> AsyncIterator[Service[SettingsT]]:
    """A service wired and started in this process (its HTTP app via ASGI transport)."""
    service = Service(settings)
    wire(service)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture(scope="session")
def run_service() -> Callable[..., Any]:
    return running


@pytest.fixture(name="eventually", scope="session")
def eventually_fixture() -> Callable[..., Awaitable[None]]:
    return eventually
