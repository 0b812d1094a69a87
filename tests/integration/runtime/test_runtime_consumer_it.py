"""The idempotent consumer through FastStream on the real Kafka, recording in FerretDB."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]
from faststream.kafka import KafkaBroker
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.runtime.broker import kafka_broker, publish_envelope
from shopwatch.runtime.codec import envelope_parser
from shopwatch.runtime.consumer import ConsumerPolicy, IdempotentConsumer
from shopwatch.runtime.dlq import (
    H_ATTEMPTS,
    H_CONSUMER_GROUP,
    H_ERROR_MESSAGE,
    H_ERROR_TYPE,
    H_ORIGINAL_OFFSET,
    H_ORIGINAL_PARTITION,
    H_ORIGINAL_TOPIC,
    H_REASON,
)
from shopwatch.runtime.health import Health
from shopwatch.runtime.metrics import REGISTRY
from shopwatch.runtime.processed import MongoProcessedEvents
from shopwatch.runtime.retry import TransientError
from shopwatch.runtime.settings import RuntimeSettings
from shopwatch.runtime.subscription import BrokerDeadLetterPublisher, subscribe
from shopwatch.schemas.envelope import Envelope

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

Doc = dict[str, Any]


class Ping(BaseModel):
    n: int


def ping(n: int) -> Envelope[Ping]:
    return Envelope[Ping](
        event_type="Ping",
        schema_version=1,
        producer="runtime-it",
        correlation_id=f"c-{n}",
        payload=Ping(n=n),
    )


@dataclass
class Deps:
    handled: list[int] = field(default_factory=list)
    fail_transiently: int = 0


async def handle(event: Envelope[Ping], deps: Deps) -> None:
    if deps.fail_transiently:
        deps.fail_transiently -= 1
        raise TransientError("dependency briefly down")
    deps.handled.append(event.payload.n)


@dataclass
class Rig:
    topic: str
    dlq: str
    group: str
    broker: KafkaBroker
    consumer: IdempotentConsumer[Envelope[Ping], Deps]
    deps: Deps
    health: Health
    processed: MongoProcessedEvents
    publisher: KafkaBroker


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig(
    settings: RuntimeSettings, database: AsyncDatabase[Doc], topics: Any
) -> AsyncIterator[RigFactory]:
    started: list[KafkaBroker] = []

    async def make(*, group: str | None = None, topic: str | None = None, **policy: Any) -> Rig:
        topic = topic or settings.topic("pings.v1")
        dlq = f"{topic}.dlq"
        if not started:
            await topics(topic, dlq)
        broker = kafka_broker(settings)
        processed = MongoProcessedEvents(database[f"processed_{settings.topic_prefix}"])
        await processed.ensure_indexes()
        health = Health()
        deps = Deps()
        consumer = IdempotentConsumer(
            topic=topic,
            group=group or f"{settings.topic_prefix}.it",
            handler=handle,
            deps=deps,
            parse=envelope_parser(Ping),
            processed=processed,
            dead_letters=BrokerDeadLetterPublisher(broker),
            policy=ConsumerPolicy(backoff_initial_s=0.01, backoff_max_s=0.05, **policy),
            health=health,
        )
        subscribe(broker, consumer)
        await broker.start()
        started.append(broker)
        publisher = kafka_broker(settings)
        await publisher.connect()
        started.append(publisher)
        return Rig(topic, dlq, consumer.group, broker, consumer, deps, health, processed, publisher)

    yield make
    for broker in reversed(started):
        await broker.stop()


def sample(name: str, rig: Rig, **extra: str) -> float:
    return REGISTRY.get_sample_value(name, {"topic": rig.topic, "group": rig.group, **extra}) or 0


async def committed_offset(bootstrap: str, group: str, topic: str) -> int | None:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        return await reader.committed(TopicPartition(topic, 0))  # type: ignore[no-any-return]
    finally:
        await reader.stop()


async def test_redelivered_event_is_processed_once(
    rig: RigFactory, eventually: Any, kafka_bootstrap: str
) -> None:
    r = await rig()
    event = ping(1)
    # The same event twice on the wire (a relay retry, a producer replay)...
    await publish_envelope(r.publisher, event, r.topic, key="k")
    await publish_envelope(r.publisher, event, r.topic, key="k")
    await publish_envelope(r.publisher, ping(2), r.topic, key="k")

    async def all_done() -> bool:
        done = sample("shopwatch_events_processed_total", r)
        return done + sample("shopwatch_events_duplicate_total", r) == 3

    await eventually(all_done, what="three messages processed or skipped")
    # ...has its effect once, and is recorded once.
    assert r.deps.handled == [1, 2]
    assert sample("shopwatch_events_duplicate_total", r) == 1
    assert sample("shopwatch_event_handler_duration_seconds_count", r) == 3

    async def caught_up() -> bool:  # set after the commit of each message
        return sample("shopwatch_consumer_lag", r) == 0

    await eventually(caught_up, what="lag back to 0 at the high watermark")
    records = await r.processed.collection.find({"group": r.group}).to_list()
    assert len(records) == 2
    assert str(event.event_id) in {d["event_id"] for d in records}

    # Offsets are committed after the work: a restarted consumer in the same group
    # starts after the last message and handles nothing again.
    async def committed() -> bool:
        return await committed_offset(kafka_bootstrap, r.group, r.topic) == 3

    await eventually(committed, what="offset 3 committed")
    await r.broker.stop()
    again = await rig(group=r.group, topic=r.topic)
    await asyncio.sleep(2)
    assert again.deps.handled == []


async def test_poison_message_goes_to_dlq_and_the_next_is_processed(
    rig: RigFactory, read_topic: Any, eventually: Any
) -> None:
    r = await rig()
    poison = b'{"event_type": "Ping", "payload": "not an object'
    await r.publisher.publish(poison, r.topic, key=b"bad", headers={"trace": "t-1"})
    await publish_envelope(r.publisher, ping(7), r.topic, key="good")

    async def good_handled() -> bool:
        return r.deps.handled == [7]

    await eventually(good_handled, what="the good message behind the poison handled")
    [letter] = await read_topic(r.dlq, expect=1)
    assert letter.value == poison, "original bytes preserved"
    assert letter.key == b"bad"
    assert letter.headers["trace"] == "t-1", "original headers preserved"
    assert letter.headers[H_REASON] == "poison"
    assert "ValidationError" in letter.headers[H_ERROR_TYPE]
    assert "json" in letter.headers[H_ERROR_MESSAGE].lower()
    assert letter.headers[H_ORIGINAL_TOPIC] == r.topic
    assert letter.headers[H_ORIGINAL_PARTITION] == "0"
    assert letter.headers[H_ORIGINAL_OFFSET] == "0"
    assert letter.headers[H_CONSUMER_GROUP] == r.group
    assert letter.headers[H_ATTEMPTS] == "1"
    assert sample("shopwatch_events_dead_lettered_total", r, reason="poison") == 1
    assert all(result.ok for result in await r.health.check())


async def test_transient_errors_retried_then_redelivered_never_dead_lettered(
    rig: RigFactory, read_topic: Any, eventually: Any
) -> None:
    r = await rig(max_attempts=3)
    r.deps.fail_transiently = 2  # first event: fails twice, succeeds on the third try
    await publish_envelope(r.publisher, ping(1), r.topic, key="k")

    async def first_handled() -> bool:
        return r.deps.handled == [1]

    await eventually(first_handled, what="retried event handled")
    assert sample("shopwatch_events_retried_total", r) == 2

    # Second event: fails all three attempts of its first delivery (a dependency away
    # for longer than the backoff). It is read again from Kafka, not dead-lettered, and
    # handled once the dependency is back.
    r.deps.fail_transiently = 4
    await publish_envelope(r.publisher, ping(2), r.topic, key="k")

    async def second_handled() -> bool:
        return r.deps.handled == [1, 2]

    await eventually(second_handled, what="the event redelivered and handled")
    assert await read_topic(r.dlq, expect=0) == []
    assert not r.consumer.halted


async def test_consumer_stops_when_dead_letter_rate_trips(
    rig: RigFactory, read_topic: Any, eventually: Any, kafka_bootstrap: str
) -> None:
    r = await rig(dlq_max_per_window=2, dlq_window_s=60)
    for i in range(5):
        await r.publisher.publish(f"garbage {i}".encode(), r.topic, key=b"k")
    await publish_envelope(r.publisher, ping(99), r.topic, key="k")

    async def halted() -> bool:
        return r.consumer.halted

    await eventually(halted, what="consumer halted")
    letters = await read_topic(r.dlq, expect=2, settle_s=2.0)
    assert [letter.value for letter in letters] == [b"garbage 0", b"garbage 1"], (
        "only the allowed number dead-lettered; the topic was not drained into the DLQ"
    )
    assert r.deps.handled == [], "nothing behind the tripping message was consumed"
    assert sample("shopwatch_consumer_lag", r) > 0, "the backlog shows as lag"
    [failing] = [c for c in await r.health.check() if not c.ok]
    assert failing.name == f"consumer:{r.topic}"
    assert sample("shopwatch_consumer_stopped", r) == 1

    # The tripping message (offset 2) is not committed: after a fix and a restart, the
    # group resumes exactly there.
    async def settled() -> bool:
        return await committed_offset(kafka_bootstrap, r.group, r.topic) == 2

    await eventually(settled, what="committed offset stays at the tripping message")
    await asyncio.sleep(1)
    assert await committed_offset(kafka_bootstrap, r.group, r.topic) == 2
    assert len(await read_topic(r.dlq, expect=2, settle_s=0.5)) == 2


async def test_processed_records_unique_per_group_and_prunable(
    database: AsyncDatabase[Doc],
) -> None:
    processed = MongoProcessedEvents(database[f"processed_prune_{uuid.uuid4().hex[:6]}"])
    await processed.ensure_indexes()
    assert await processed.record("g1", "e-1", topic="t", partition=0, offset=1)
    assert not await processed.record("g1", "e-1", topic="t", partition=0, offset=2)
    assert await processed.record("g2", "e-1", topic="t", partition=0, offset=1)
    assert await processed.seen("g1", "e-1")
    assert not await processed.seen("g3", "e-1")
    await processed.collection.update_one(
        {"_id": processed.record_id("g2", "e-1")},
        {"$set": {"processed_at": datetime.now(UTC) - timedelta(days=40)}},
    )
    assert await processed.prune(timedelta(days=30)) == 1
    assert await processed.seen("g1", "e-1")
    assert not await processed.seen("g2", "e-1")
