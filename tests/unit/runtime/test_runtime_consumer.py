"""The idempotent consumer's decisions, with in-memory fakes (no Kafka, no MongoDB)."""

from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel
from pymongo.errors import AutoReconnect

from shopwatch.runtime.codec import encode_envelope, envelope_parser
from shopwatch.runtime.consumer import (
    ConsumerPolicy,
    IdempotentConsumer,
    Outcome,
    ReceivedRecord,
)
from shopwatch.runtime.dlq import H_ATTEMPTS, H_ERROR_TYPE, H_REASON, DeadLetter
from shopwatch.runtime.health import Health
from shopwatch.runtime.metrics import REGISTRY
from shopwatch.runtime.retry import PoisonMessage, TransientError
from shopwatch.schemas.envelope import Envelope


class Ping(BaseModel):
    n: int


PingEvent = Envelope[Ping]


class FakeProcessed:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], int] = {}
        self.fail_next: list[BaseException] = []

    async def seen(self, group: str, event_id: str) -> bool:
        return (group, event_id) in self.records

    async def record(
        self, group: str, event_id: str, *, topic: str, partition: int, offset: int
    ) -> bool:
        if self.fail_next:
            raise self.fail_next.pop(0)
        if (group, event_id) in self.records:
            return False
        self.records[(group, event_id)] = offset
        return True


class FakeDlq:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []
        self.fail = False

    async def publish(self, letter: DeadLetter) -> None:
        if self.fail:
            raise ConnectionError("kafka down")
        self.letters.append(letter)


@dataclass
class Deps:
    seen: list[int] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


async def handle(event: PingEvent, deps: Deps) -> None:
    if deps.errors:
        raise deps.errors.pop(0)
    deps.seen.append(event.payload.n)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)


@dataclass
class Rig:
    consumer: IdempotentConsumer[PingEvent, Deps]
    deps: Deps
    processed: FakeProcessed
    dlq: FakeDlq
    sleeps: Sleeps
    health: Health
    halts: list[bool]


def make(topic: str = "t.pings.v1", **policy: Any) -> Rig:
    deps, processed, dlq, sleeps, health = Deps(), FakeProcessed(), FakeDlq(), Sleeps(), Health()
    consumer = IdempotentConsumer(
        topic=topic,
        group="g1",
        handler=handle,
        deps=deps,
        parse=envelope_parser(Ping),
        processed=processed,
        dead_letters=dlq,
        policy=ConsumerPolicy(**{"backoff_initial_s": 0.01, "backoff_max_s": 0.05, **policy}),
        health=health,
        sleep=sleeps,
    )
    halts: list[bool] = []
    consumer.on_halt = lambda: halts.append(True)
    return Rig(consumer, deps, processed, dlq, sleeps, health, halts)


def ping(n: int) -> PingEvent:
    return PingEvent(
        event_type="Ping", schema_version=1, producer="tests", correlation_id="c", payload=Ping(n=n)
    )


def record(value: bytes, offset: int = 0, topic: str = "t.pings.v1") -> ReceivedRecord:
    return ReceivedRecord(
        topic=topic, partition=0, offset=offset, key=b"k", value=value, headers={"h": "v"}
    )


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_good_event_is_handled_and_recorded() -> None:
    rig = make(topic="t.good")
    event = ping(1)
    assert (
        await rig.consumer.process(record(encode_envelope(event), topic="t.good"))
        is Outcome.PROCESSED
    )
    assert rig.deps.seen == [1]
    assert ("g1", str(event.event_id)) in rig.processed.records
    assert metric("shopwatch_events_processed_total", topic="t.good", group="g1") == 1
    assert metric("shopwatch_events_consumed_total", topic="t.good", group="g1") == 1


async def test_redelivered_event_is_skipped() -> None:
    rig = make(topic="t.dup")
    raw = encode_envelope(ping(2))
    assert await rig.consumer.process(record(raw, topic="t.dup")) is Outcome.PROCESSED
    assert await rig.consumer.process(record(raw, offset=1, topic="t.dup")) is Outcome.DUPLICATE
    assert rig.deps.seen == [2]
    assert metric("shopwatch_events_duplicate_total", topic="t.dup", group="g1") == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"not json at all",
        b'{"event_type": "Ping"}',
        encode_envelope(ping(1)).replace(b'"n":1', b'"n":"one"'),
    ],
)
async def test_poison_message_goes_to_dlq_at_once(raw: bytes) -> None:
    rig = make()
    assert await rig.consumer.process(record(raw, offset=7)) is Outcome.DEAD_LETTERED
    [letter] = rig.dlq.letters
    assert letter.topic == "t.pings.v1.dlq"
    assert letter.value == raw
    assert letter.key == b"k"
    assert letter.headers["h"] == "v"
    assert letter.headers[H_REASON] == "poison"
    assert letter.headers[H_ERROR_TYPE] == "pydantic_core._pydantic_core.ValidationError"
    assert letter.headers[H_ATTEMPTS] == "1"
    assert rig.deps.seen == []
    assert rig.sleeps.calls == []


async def test_transient_error_is_retried_with_backoff() -> None:
    rig = make(max_attempts=4)
    rig.deps.errors = [AutoReconnect("flap"), TransientError("busy")]
    assert await rig.consumer.process(record(encode_envelope(ping(3)))) is Outcome.PROCESSED
    assert rig.deps.seen == [3]
    assert len(rig.sleeps.calls) == 2
    assert rig.sleeps.calls[1] >= rig.sleeps.calls[0] / 2
    assert rig.dlq.letters == []


async def test_exhausted_retries_redeliver_instead_of_dead_lettering() -> None:
    # A dependency away for longer than the backoff (tests/fault: FerretDB stopped 30 s,
    # SMTP stopped 20 s) used to put good events on the DLQ as "retries_exhausted".
    rig = make(max_attempts=3)
    rig.deps.errors = [TransientError("down")] * 3
    assert await rig.consumer.process(record(encode_envelope(ping(4)))) is Outcome.REDELIVER
    assert rig.dlq.letters == []
    assert not rig.consumer.halted
    assert len(rig.sleeps.calls) == 3  # two backoffs, then a pause before the redelivery
    assert rig.processed.records == {}
    # Read again once the dependency is back: handled and recorded once.
    assert await rig.consumer.process(record(encode_envelope(ping(4)))) is Outcome.PROCESSED
    assert rig.deps.seen == [4]


@pytest.mark.parametrize("error", [ValueError("bug"), PoisonMessage("unknown case")])
async def test_non_transient_error_is_not_retried(error: Exception) -> None:
    rig = make()
    rig.deps.errors = [error]
    assert await rig.consumer.process(record(encode_envelope(ping(5)))) is Outcome.DEAD_LETTERED
    assert rig.dlq.letters[0].headers[H_REASON] == "handler_error"
    assert rig.sleeps.calls == []


async def test_failed_record_retries_the_record_not_the_handler() -> None:
    rig = make()
    rig.processed.fail_next = [AutoReconnect("flap")]
    assert await rig.consumer.process(record(encode_envelope(ping(6)))) is Outcome.PROCESSED
    assert rig.deps.seen == [6]  # handled once
    assert len(rig.processed.records) == 1


async def test_dlq_outage_means_redeliver_not_commit() -> None:
    rig = make()
    rig.dlq.fail = True
    assert await rig.consumer.process(record(b"garbage")) is Outcome.REDELIVER
    assert not rig.consumer.halted


async def test_dead_letter_rate_limit_halts_the_consumer() -> None:
    rig = make(topic="t.halt", dlq_max_per_window=2, dlq_window_s=60)
    outcomes = [
        await rig.consumer.process(record(b"bad", offset=i, topic="t.halt")) for i in range(3)
    ]
    assert outcomes == [Outcome.DEAD_LETTERED, Outcome.DEAD_LETTERED, Outcome.HALTED]
    assert len(rig.dlq.letters) == 2  # the third is NOT dead-lettered
    assert rig.consumer.halted
    assert rig.halts == [True]
    [failing] = [r for r in await rig.health.check() if not r.ok]
    assert failing.name == "consumer:t.halt"
    assert "dead letters" in failing.detail
    assert metric("shopwatch_consumer_stopped", topic="t.halt", group="g1") == 1
    # A good message fetched before the stop took effect is not processed either.
    assert (
        await rig.consumer.process(record(encode_envelope(ping(9)), 5, "t.halt")) is Outcome.HALTED
    )
    assert rig.deps.seen == []
    assert rig.halts == [True]
