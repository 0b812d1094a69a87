"""The FastStream adapter, in memory with TestKafkaBroker (no Kafka): the consumer sees
raw bytes, the DLQ is published on purpose, and a halt stops the subscriber."""

from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import BaseModel

from shopwatch.runtime.codec import encode_envelope, envelope_parser
from shopwatch.runtime.consumer import ConsumerPolicy, IdempotentConsumer
from shopwatch.runtime.dlq import H_ORIGINAL_TOPIC, H_REASON
from shopwatch.runtime.subscription import BrokerDeadLetterPublisher, subscribe
from shopwatch.schemas.envelope import Envelope


class Ping(BaseModel):
    n: int


class MemoryProcessed:
    def __init__(self) -> None:
        self.ids: set[tuple[str, str]] = set()

    async def seen(self, group: str, event_id: str) -> bool:
        return (group, event_id) in self.ids

    async def record(self, group: str, event_id: str, **_: Any) -> bool:
        new = (group, event_id) not in self.ids
        self.ids.add((group, event_id))
        return new


def ping(n: int) -> Envelope[Ping]:
    return Envelope[Ping](
        event_type="Ping", schema_version=1, producer="tests", correlation_id="c", payload=Ping(n=n)
    )


def build(
    topic: str, **policy: Any
) -> tuple[KafkaBroker, IdempotentConsumer[Any, list[int]], list[Any]]:
    broker = KafkaBroker("localhost:9", allow_auto_create_topics=False)
    handled: list[int] = []

    async def handle(event: Envelope[Ping], deps: list[int]) -> None:
        deps.append(event.payload.n)

    consumer = IdempotentConsumer(
        topic=topic,
        group="g",
        handler=handle,
        deps=handled,
        parse=envelope_parser(Ping),
        processed=MemoryProcessed(),
        dead_letters=BrokerDeadLetterPublisher(broker),
        policy=ConsumerPolicy(**policy),
    )
    subscribe(broker, consumer)
    letters: list[Any] = []

    async def raw(message: StreamMessage[Any]) -> bytes:
        return message.body

    # A dead letter keeps the original headers (content-type included) over bytes that
    # may not be JSON: whoever reads a DLQ reads raw bytes.
    @broker.subscriber(f"{topic}.dlq", decoder=raw)
    async def dlq(message: KafkaMessage) -> None:
        letters.append(message)

    return broker, consumer, letters


async def test_good_poison_and_duplicate_in_memory() -> None:
    broker, consumer, letters = build("mem.pings")
    async with TestKafkaBroker(broker) as test_broker:
        event = ping(1)
        await test_broker.publish(encode_envelope(event), "mem.pings", key=b"k")
        # Not JSON, with a JSON content type: must reach our parser, not fail in FastStream.
        await test_broker.publish(
            b"{oops", "mem.pings", key=b"k", headers={"content-type": "application/json"}
        )
        await test_broker.publish(encode_envelope(event), "mem.pings", key=b"k")
    assert consumer.deps == [1]
    [letter] = letters
    assert letter.body == b"{oops"
    assert letter.headers[H_REASON] == "poison"
    assert letter.headers[H_ORIGINAL_TOPIC] == "mem.pings"


async def test_halt_stops_the_subscriber() -> None:
    broker, consumer, letters = build("mem.halt", dlq_max_per_window=1)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"bad-1", "mem.halt")
        await test_broker.publish(b"bad-2", "mem.halt")
        assert consumer.halted
        await test_broker.publish(encode_envelope(ping(5)), "mem.halt")
    assert [m.body for m in letters] == [b"bad-1"]
    assert consumer.deps == []


async def test_a_header_that_is_not_utf8_is_kept_escaped_not_fatal() -> None:
    """FastStream's own parser raised UnicodeDecodeError on such a header, and the record
    was skipped unseen; ours hands it on with the header backslash-escaped."""
    from aiokafka.structs import ConsumerRecord  # type: ignore[import-untyped]

    from shopwatch.runtime.subscription import _lenient_headers

    seen: list[Any] = []

    async def parse(record: Any) -> Any:
        seen.append(record)
        return {i: j.decode() for i, j in record.headers}

    def record(headers: list[tuple[str, Any]]) -> Any:
        return ConsumerRecord("t", 0, 7, 0, 0, b"k", b"v", None, 1, 1, headers)

    fine = record([("a", b"text")])
    parsed: Any = await _lenient_headers(fine, parse)
    assert parsed == {"a": "text"}
    assert seen[-1] is fine, "a clean record is passed on untouched"
    odd = record([("a", b"\xff\xfe x"), ("b", None), ("c", b"ok")])
    parsed = await _lenient_headers(odd, parse)
    assert parsed == {"a": "\\xff\\xfe x", "b": "", "c": "ok"}
    assert seen[-1].value == b"v" and seen[-1].offset == 7
