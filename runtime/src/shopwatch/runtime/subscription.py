"""Connects an `IdempotentConsumer` to a FastStream Kafka subscriber.

- `AckPolicy.MANUAL`: FastStream 0.7 commits nothing by itself; the offset is committed
  (`ack`) only once the consumer has processed, skipped or dead-lettered the message.
  On Kafka a REJECT would commit like an ACK, so the DLQ is published on purpose by the
  consumer, never left to the framework.
- A halted consumer `nack`s: the partition is rewound to the message, nothing is
  committed, and the subscriber is stopped, so the message is read again after a fix.
- A header that is not UTF-8 text is kept escaped instead of failing FastStream's parser
  (which skipped the record unseen).
- The decoder hands the handler the raw bytes, so a body that is not even JSON reaches
  our parser (and the DLQ) instead of failing inside FastStream.
- `auto_offset_reset="earliest"`: a new consumer group starts at the beginning of the
  topic; "latest" would silently skip events published before its first commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import LogicSubscriber
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy

from shopwatch.runtime.consumer import IdempotentConsumer, Outcome, ReceivedRecord
from shopwatch.runtime.dlq import DeadLetter
from shopwatch.runtime.kafka_clients import RecordSender, partition_highwater
from shopwatch.runtime.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)


class BrokerDeadLetterPublisher:
    """Publishes dead letters with a FastStream broker (what the in-memory test broker
    captures); services use `ProducerDeadLetterPublisher`."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def publish(self, letter: DeadLetter) -> None:
        await self.broker.publish(
            letter.value,
            letter.topic,
            key=letter.key,
            headers=letter.headers,
        )


class ProducerDeadLetterPublisher:
    """Publishes dead letters with the service's own idempotent producer (acks=all).

    Not FastStream's producer: when a broker restart breaks an idempotent producer's
    sequence numbers, every later send by it fails, and a consumer whose dead letter cannot
    be written retries that message for ever. The service passes a `RenewingProducer`,
    which replaces itself after such an error.
    """

    def __init__(self, producer: RecordSender) -> None:
        self.producer = producer

    async def publish(self, letter: DeadLetter) -> None:
        delivery = await self.producer.send(
            letter.topic,
            value=letter.value,
            key=letter.key,
            headers=[(name, value.encode()) for name, value in letter.headers.items()],
        )
        await delivery


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return message.body


async def _lenient_headers(
    record: Any, parse: Callable[[Any], Awaitable[StreamMessage[Any]]]
) -> StreamMessage[Any]:
    """FastStream decodes every header as UTF-8 and, on one that is not (or a null one),
    fails before our consumer sees the record: it was neither handled nor dead-lettered,
    just skipped. Headers only repeat what the body says, so a bad one is kept
    backslash-escaped and the record goes on to be handled (or dead-lettered) as usual."""
    headers = list(record.headers or ())
    if all(isinstance(v, bytes) and _is_utf8(v) for _, v in headers):
        return await parse(record)
    log.warning(
        "record %s[%d]@%d has a header that is not UTF-8 text; it is kept escaped",
        record.topic,
        record.partition,
        record.offset,
    )
    fixed = [(k, (v or b"").decode("utf-8", "backslashreplace").encode()) for k, v in headers]
    return await parse(dataclasses.replace(record, headers=fixed))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def subscribe(
    broker: KafkaBroker,
    consumer: IdempotentConsumer[Any, Any],
    **subscriber_options: Any,
) -> LogicSubscriber[Any]:
    """Register `consumer` on `broker`; it starts with `broker.start()`."""
    options: dict[str, Any] = {"auto_offset_reset": "earliest", **subscriber_options}
    subscriber: LogicSubscriber[Any] = broker.subscriber(
        consumer.topic,
        group_id=consumer.group,
        ack_policy=AckPolicy.MANUAL,
        parser=_lenient_headers,
        decoder=_raw_body,
        **options,
    )
    lag_by_partition: dict[int, int] = {}
    stop_tasks: set[asyncio.Task[None]] = set()

    def stop_subscriber() -> None:
        # Not awaited here: stop() waits for the message being handled (this one) to
        # finish, so awaiting it from inside the handler would wait for itself.
        task = asyncio.create_task(subscriber.stop(), name=f"stop-consumer-{consumer.topic}")
        stop_tasks.add(task)
        task.add_done_callback(stop_tasks.discard)

    consumer.on_halt = stop_subscriber

    async def consume(message: KafkaMessage) -> None:
        raw = message.raw_message
        # A non-batch subscriber always gets one record; the tuple is the batch form.
        assert not isinstance(raw, tuple)
        record = ReceivedRecord(
            topic=raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            key=raw.key,
            value=message.body,
            headers=dict(message.headers),
        )
        outcome = await consumer.process(record)
        if outcome in (Outcome.HALTED, Outcome.REDELIVER):
            await message.nack()
        else:
            await message.ack()
        _update_lag(message, record, lag_by_partition, consumer)

    consume.__name__ = consume.__qualname__ = f"consume_{consumer.topic}_{consumer.group}"
    subscriber(consume)
    return subscriber


def _update_lag(
    message: Any,
    record: ReceivedRecord,
    lag_by_partition: dict[int, int],
    consumer: IdempotentConsumer[Any, Any],
) -> None:
    # Cheap enough for every message: the client already holds the high watermark.
    highwater = partition_highwater(message.consumer, record.topic, record.partition)
    if highwater is None:
        return
    lag_by_partition[record.partition] = max(0, highwater - record.offset - 1)
    CONSUMER_LAG.labels(consumer.topic, consumer.group).set(sum(lag_by_partition.values()))
