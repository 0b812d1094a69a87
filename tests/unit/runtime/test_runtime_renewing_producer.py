import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber  # type: ignore[import-untyped]

from shopwatch.runtime.dlq import DeadLetter
from shopwatch.runtime.renewing_producer import RenewingProducer
from shopwatch.runtime.subscription import ProducerDeadLetterPublisher


class FakeProducer:
    """Completes each send with the next outcome given (an exception or a value), at once
    or, with `delay_s`, a moment later as a real producer does."""

    def __init__(self, outcomes: list[Any], delay_s: float | None = None) -> None:
        self.outcomes = outcomes
        self.delay_s = delay_s
        self.sent: list[bytes | None] = []
        self.options: list[dict[str, Any]] = []
        self.started = self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(
        self, topic: str, value: bytes | None = None, **options: Any
    ) -> asyncio.Future[Any]:
        self.sent.append(value)
        self.options.append({"topic": topic, **options})
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        outcome: Any = self.outcomes.pop(0) if self.outcomes else "ok"
        complete: Any = (
            future.set_exception if isinstance(outcome, BaseException) else future.set_result
        )
        if self.delay_s is None:
            complete(outcome)
        else:
            asyncio.get_running_loop().call_later(self.delay_s, complete, outcome)
        return future


def factory(*producers: FakeProducer) -> Any:
    queue = list(producers)
    return lambda: queue.pop(0)


async def test_a_broken_sequence_is_followed_by_a_new_producer() -> None:
    broken, fresh = FakeProducer([OutOfOrderSequenceNumber()]), FakeProducer([])
    producer = RenewingProducer(factory(broken, fresh))
    await producer.start()
    with pytest.raises(OutOfOrderSequenceNumber):
        await (await producer.send("t", b"1"))
    assert await (await producer.send("t", b"1 again")) == "ok"
    assert (broken.sent, fresh.sent) == ([b"1"], [b"1 again"])
    assert broken.stopped and fresh.started and producer.renewals == 1


async def test_other_errors_keep_the_producer() -> None:
    # A timeout says nothing about the numbering: the same producer retries (and keeps
    # its order guarantees); replacing it would only cost a new producer id.
    only = FakeProducer([KafkaTimeoutError()])
    producer = RenewingProducer(factory(only))
    await producer.start()
    with pytest.raises(KafkaTimeoutError):
        await (await producer.send("t", b"1"))
    assert await (await producer.send("t", b"2")) == "ok"
    assert only.sent == [b"1", b"2"] and producer.renewals == 0


async def test_a_sequence_broken_after_the_send_returned_is_noticed_too() -> None:
    broken = FakeProducer([OutOfOrderSequenceNumber()], delay_s=0.01)
    fresh = FakeProducer([], delay_s=0.01)
    producer = RenewingProducer(factory(broken, fresh))
    await producer.start()
    pending = await producer.send("t", b"1")
    with pytest.raises(OutOfOrderSequenceNumber):
        await pending
    assert await (await producer.send("t", b"2")) == "ok"
    assert (broken.sent, fresh.sent, producer.renewals) == ([b"1"], [b"2"], 1)


async def test_dead_letters_are_acknowledged_and_go_through_a_renewed_producer() -> None:
    # A consumer commits past a poison message only once its dead letter is written, so
    # publish must raise when delivery fails, and the next letter must not fail the same way.
    broken, fresh = FakeProducer([OutOfOrderSequenceNumber()]), FakeProducer([], delay_s=0.01)
    publisher = ProducerDeadLetterPublisher(RenewingProducer(factory(broken, fresh)))
    await publisher.producer.start()  # type: ignore[attr-defined]
    letter = DeadLetter(
        topic="p.reports.submitted.v1.dlq",
        key=b"rep_1",
        value=b"{}",
        headers={"dlq-reason": "poison", "dlq-error-type": "ValidationError"},
    )

    with pytest.raises(OutOfOrderSequenceNumber):
        await publisher.publish(letter)
    await publisher.publish(letter)

    assert fresh.sent == [b"{}"]
    assert fresh.options == [
        {
            "topic": "p.reports.submitted.v1.dlq",
            "key": b"rep_1",
            "partition": None,
            "timestamp_ms": None,
            "headers": [("dlq-reason", b"poison"), ("dlq-error-type", b"ValidationError")],
        }
    ]
