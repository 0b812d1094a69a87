"""An idempotent producer that replaces itself once its sequence numbers are broken.

An idempotent producer numbers its records per partition; when the broker loses or
disowns that numbering (seen in CI's fault run after a broker restart:
`OutOfOrderSequenceNumber`), every later send by the same producer fails the same way,
for ever. The outbox relay retried its cycle every few seconds for minutes and published
nothing (533 cases held back). The cure is a new producer (a new producer id, numbering
from zero); records sent again by it are duplicates that consumers drop by `event_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka.errors import (  # type: ignore[import-untyped]
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from shopwatch.runtime.kafka_clients import ManagedProducer

log = logging.getLogger(__name__)

# Errors after which this producer can never send again (aiokafka marks none retriable).
SEQUENCE_BROKEN: tuple[type[BaseException], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)
OLD_PRODUCER_STOP_TIMEOUT_S = 10.0


class RenewingProducer:
    """A `ManagedProducer` over `make()`'s producers: the first send after one of them
    reported `SEQUENCE_BROKEN` goes through a new one."""

    def __init__(self, make: Callable[[], ManagedProducer]) -> None:
        self._make = make
        self._current: ManagedProducer | None = None
        self._broken = False
        self._lock = asyncio.Lock()
        self.renewals = 0

    async def start(self) -> None:
        self._current = self._make()
        await self._current.start()

    async def stop(self) -> None:
        if self._current is not None:
            await self._current.stop()

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        if self._broken:
            await self._renew()
        if self._current is None:
            raise RuntimeError("the producer is not started")
        future = await self._current.send(
            topic,
            value=value,
            key=key,
            partition=partition,
            timestamp_ms=timestamp_ms,
            headers=headers,
        )
        if future.done():
            self._watch(future)
        else:
            # Runs before the sender's own await resumes (callbacks run in the order added).
            future.add_done_callback(self._watch)
        return future

    def _watch(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and isinstance(future.exception(), SEQUENCE_BROKEN):
            self._broken = True

    async def _renew(self) -> None:
        async with self._lock:
            if not self._broken:
                return  # another sender renewed it meanwhile
            old, fresh = self._current, self._make()
            await fresh.start()
            self._current, self._broken = fresh, False
            self.renewals += 1
            log.warning("the producer's sequence broke; sending with a new producer")
            if old is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(old.stop(), OLD_PRODUCER_STOP_TIMEOUT_S)
