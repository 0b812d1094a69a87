"""Plain aiokafka clients the runtime needs beside FastStream's broker.

aiokafka ships no type information, so its imports are confined to this module and the
rest of the runtime sees typed wrappers and protocols.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, TopicPartition  # type: ignore[import-untyped]
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
)

from shopwatch.runtime.settings import RuntimeSettings

# Errors that say "the cluster is unreachable or busy right now", not "this is wrong".
KAFKA_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    KafkaConnectionError,
    KafkaTimeoutError,
)


def is_retriable_kafka_error(exc: BaseException) -> bool:
    """aiokafka marks broker errors that a retry may cure with `retriable = True`."""
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


class RecordSender(Protocol):
    """What the outbox relay needs from a producer (aiokafka's AIOKafkaProducer fits)."""

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]: ...


class ManagedProducer(RecordSender, Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def idempotent_producer(
    settings: RuntimeSettings, *, client_suffix: str = "outbox", **options: Any
) -> ManagedProducer:
    """A producer that writes each record once per send and only counts it sent when
    every in-sync replica has it: `enable_idempotence=True` (no duplicates from its own
    retries, order kept per partition) and `acks="all"`. `linger_ms=0` because the outbox
    is latency-bound (a case must reach its force quickly), not throughput-bound.
    """
    producer: ManagedProducer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"{settings.service_name}-{client_suffix}",
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        request_timeout_ms=10_000,
        **options,
    )
    return producer


def partition_highwater(consumer: object, topic: str, partition: int) -> int | None:
    """The high watermark the consumer last saw for a partition, without a request.

    aiokafka keeps it from the last fetch response; None when unknown (no fetch yet, the
    partition was revoked, or the object is a test double without the method).
    """
    highwater = getattr(consumer, "highwater", None)
    if highwater is None:
        return None
    try:
        value = highwater(TopicPartition(topic, partition))
    except Exception:  # revoked between the fetch and now
        return None
    return int(value) if value is not None else None
