"""Provisioning on the real local Kafka: every registry topic, and a second run is a no-op."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.admin.config_resource import (  # type: ignore[import-untyped]
    ConfigResource,
    ConfigResourceType,
)

from shopwatch.runtime.provisioning import ensure_topics, main, planned_topics
from shopwatch.schemas.topics import REPORTS_SUBMITTED, all_topics, force_topic, topic, with_prefix

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bootstrap() -> str:
    value = os.environ.get("SHOPWATCH_KAFKA_BOOTSTRAP")
    if not value:
        pytest.fail(
            "SHOPWATCH_KAFKA_BOOTSTRAP is not set: start the local stack (make stack-up) and "
            "load .cache/local/stack.env",
            pytrace=False,
        )
    return value


@pytest.fixture
async def prefix(bootstrap: str) -> AsyncIterator[str]:
    value = f"t-prov-{uuid.uuid4().hex[:8]}"
    yield value
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # Topics created a moment ago can survive a first delete; check and repeat.
        for _ in range(10):
            ours = [t for t in await admin.list_topics() if t.startswith(value + ".")]
            if not ours:
                break
            for start in range(0, len(ours), 50):
                await admin.delete_topics(ours[start : start + 50])
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def test_creates_every_topic_then_nothing(bootstrap: str, prefix: str) -> None:
    seen: list[tuple[int, int]] = []
    first = await ensure_topics(
        bootstrap, prefix, partitions_override=1, progress=lambda d, t: seen.append((d, t))
    )
    expected = {with_prefix(t.name, prefix) for t in all_topics()}
    assert set(first.created) == expected
    assert first.already_present == []
    assert seen[-1] == (len(expected), len(expected))

    second = await ensure_topics(bootstrap, prefix, partitions_override=1)
    assert second.created == []
    assert set(second.already_present) == expected
    assert second.partition_mismatches == {}

    # The retention of the registry is on the topic.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        name = with_prefix(force_topic("durham"), prefix)
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": None})]
        )
        configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
        assert configs["retention.ms"] == str(topic(force_topic("durham")).retention_ms)
        described = await admin.describe_topics([with_prefix(REPORTS_SUBMITTED, prefix)])
        assert len(described[0]["partitions"]) == 1
    finally:
        await admin.close()

    # A run that wants other partition counts reports the difference and changes nothing.
    third = await ensure_topics(bootstrap, prefix, partitions_override=2)
    assert third.created == []
    assert len(third.partition_mismatches) == len(expected)
    assert third.partition_mismatches[with_prefix(REPORTS_SUBMITTED, prefix)] == (2, 1)


async def test_command_line_entry_point(
    bootstrap: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SHOPWATCH_KAFKA_BOOTSTRAP": bootstrap, "SHOPWATCH_TOPIC_PREFIX": prefix}
    # main() runs its own event loop, so run it in a worker thread from this async test.
    code = await asyncio.to_thread(main, ["--partitions", "1"], env)
    assert code == 0
    out = capsys.readouterr().out
    total = len(planned_topics(prefix))
    assert f"{total} topics: {total} created, 0 already present" in out
    code = await asyncio.to_thread(main, ["--partitions", "1", "--json"], env)
    assert code == 0
    assert '"created": []' in capsys.readouterr().out


async def test_unreachable_broker_is_a_clear_failure(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"SHOPWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    code = await asyncio.to_thread(main, [], env)
    assert code == 1
    assert "provisioning failed" in capsys.readouterr().err
