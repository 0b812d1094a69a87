"""Kafka pieces the benchmarks share: a consumer that notes when each record first
arrives, the raw produce -> consume baseline, and topic set-up and clean-up."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]


def payload_field(name: str) -> Callable[[Any], str | None]:
    """Reads `name` from a record's envelope payload (None when the record has none)."""

    def read(record: Any) -> str | None:
        try:
            value: Any = json.loads(record.value)["payload"][name]
        except (ValueError, KeyError, TypeError):
            return None
        return str(value)

    return read


# The case id of a record on a force's cases topic; the report id on the intake topic.
case_id_of = payload_field("case_id")
report_id_of = payload_field("report_id")


class FirstArrivals:
    """Consumes `topics` from the start and notes when each id (from `key_of`) first
    arrives, by the local perf_counter clock, so it compares with send times taken here.

    `on_record(id, record, now)` sees every record, for measures beyond the first arrival.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        key_of: Callable[[Any], str | None] = case_id_of,
        on_record: Callable[[str, Any, float], None] | None = None,
    ) -> None:
        self.consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        self.key_of, self.on_record = key_of, on_record
        self.seen: dict[str, float] = {}
        self.records = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=50, max_records=5000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    self.records += 1
                    key = self.key_of(record)
                    if key is None:
                        continue
                    self.seen.setdefault(key, now)
                    if self.on_record is not None:
                        self.on_record(key, record, now)

    async def wait_for(self, ids: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not ids <= self.seen.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()


@dataclass
class RawRun:
    """One raw produce -> consume run: how many, how long, each record's latency."""

    sent: int = 0
    received: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Records consumed per second, from the first send to the last arrival."""
        return self.received / self.seconds if self.seconds else 0.0


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def delete_topics_with_prefix(bootstrap: str, prefix: str) -> int:
    """Deletes every topic whose name starts with `prefix`; returns how many."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        for start in range(0, len(ours), 100):
            await admin.delete_topics(ours[start : start + 100])
    finally:
        await admin.close()
    return len(ours)


async def raw_roundtrip(
    bootstrap: str,
    topic: str,
    payload: bytes,
    count: int,
    rate: float | None,
    drain_s: float = 30.0,
) -> RawRun:
    """The broker alone: an aiokafka producer (acks=all, idempotent, as the services'
    relays) sends `count` records to `topic`, paced at `rate` per second or as fast as
    it can (`rate=None`), while a consumer in the same process notes each arrival."""
    sent: dict[str, float] = {}
    run_tag = secrets.token_hex(4)  # a topic used twice must not match the last run's keys
    arrivals = FirstArrivals(bootstrap, [topic], key_of=lambda r: r.key.decode())
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    await arrivals.start()
    run = RawRun()
    try:
        await asyncio.sleep(2)  # let the consumer get its partitions before the clock starts
        start = time.perf_counter()
        futures = []
        for i in range(count):
            if rate is not None:
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            key = f"raw-{run_tag}-{i}"
            sent[key] = time.perf_counter()
            futures.append(await producer.send(topic, payload, key=key.encode()))
        await asyncio.gather(*futures)
        await arrivals.wait_for(set(sent), drain_s)
        got = [k for k in sent if k in arrivals.seen]
        run.sent, run.received = len(sent), len(got)
        run.latencies_ms = [(arrivals.seen[k] - sent[k]) * 1000 for k in got]
        run.seconds = (max(arrivals.seen[k] for k in got) - start) if got else 0.0
    finally:
        await arrivals.stop()
        await producer.stop()
    return run
