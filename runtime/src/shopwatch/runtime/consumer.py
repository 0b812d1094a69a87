"""The idempotent consumer: parse -> dedupe -> handle -> record -> commit | retry | DLQ.

A service writes only the handler, a plain coroutine that takes the parsed event and
its dependencies:

    async def handle(event: Envelope[ReportSubmitted], deps: RoutingDeps) -> None: ...

and this module does the rest, per message, in order:

1. parse the bytes into an Envelope; a message that does not parse can never succeed,
   so it is a poison message and goes to `<topic>.dlq` at once;
2. skip an `event_id` this consumer group has already processed (a duplicate);
3. call the handler; retry errors known to be transient with capped exponential
   backoff; after `max_attempts` the message is redelivered (read again from Kafka),
   never dead-lettered: a transient error says a dependency is away, not that the
   message is bad (a 30 s database outage must not empty a topic into its DLQ); any
   other error dead-letters it at once;
4. record the `event_id` as processed, then let the adapter commit the offset.

When dead letters come faster than the rate limit allows, the consumer halts instead:
the message is not committed, the subscriber stops, readiness turns red and an error is
logged. That is the difference between "three malformed messages" and "MongoDB is down
and we are about to throw the whole topic into the DLQ".

The core (`IdempotentConsumer.process`) knows nothing about FastStream, so it is tested
with fakes; `faststream_adapter.py` connects it to a Kafka subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from shopwatch.runtime.dlq import (
    DeadLetterPublisher,
    DeadLetterRateLimiter,
    build_dead_letter,
)
from shopwatch.runtime.health import Health
from shopwatch.runtime.logging import log_context
from shopwatch.runtime.metrics import (
    CONSUMER_STOPPED,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATE,
    EVENTS_PROCESSED,
    EVENTS_RETRIED,
    HANDLER_DURATION,
)
from shopwatch.runtime.processed import ProcessedEvents
from shopwatch.runtime.retry import backoff_delays, is_transient
from shopwatch.runtime.settings import RuntimeSettings
from shopwatch.schemas.envelope import Envelope

log = logging.getLogger(__name__)

DepsT = TypeVar("DepsT")
EventT = TypeVar("EventT", bound=Envelope[Any])

Handler = Callable[[EventT, DepsT], Awaitable[None]]
Parser = Callable[[bytes], EventT]


@dataclass(frozen=True)
class ReceivedRecord:
    """What the consumer needs of a Kafka record, independent of the client library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


class Outcome(StrEnum):
    PROCESSED = "processed"  # handled and recorded: commit
    DUPLICATE = "duplicate"  # processed before: commit
    DEAD_LETTERED = "dead_lettered"  # on the DLQ: commit
    HALTED = "halted"  # not handled, not dead-lettered: do NOT commit, stop consuming
    REDELIVER = "redeliver"  # could not finish (e.g. the DLQ itself failed): seek back


@dataclass(frozen=True)
class ConsumerPolicy:
    max_attempts: int = 5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    dlq_max_per_window: int = 10
    dlq_window_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: RuntimeSettings) -> ConsumerPolicy:
        return cls(
            max_attempts=settings.consumer_max_attempts,
            backoff_initial_s=settings.consumer_backoff_initial_s,
            backoff_max_s=settings.consumer_backoff_max_s,
            dlq_max_per_window=settings.dlq_max_per_window,
            dlq_window_s=settings.dlq_window_s,
        )


class IdempotentConsumer(Generic[EventT, DepsT]):
    def __init__(
        self,
        *,
        topic: str,
        group: str,
        handler: Handler[EventT, DepsT],
        deps: DepsT,
        parse: Parser[EventT],
        processed: ProcessedEvents,
        dead_letters: DeadLetterPublisher,
        policy: ConsumerPolicy | None = None,
        health: Health | None = None,
        transient: tuple[type[BaseException], ...] = (),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self.group = group
        self.handler = handler
        self.deps = deps
        self.parse = parse
        self.processed = processed
        self.dead_letters = dead_letters
        self.policy = policy or ConsumerPolicy()
        self.health = health
        self.transient = transient
        self._sleep = sleep
        self.limiter = DeadLetterRateLimiter(
            self.policy.dlq_max_per_window, self.policy.dlq_window_s, clock=clock
        )
        self.halted = False
        # Called once when the consumer halts; the adapter stops its subscriber here.
        self.on_halt: Callable[[], None] | None = None
        self._labels = (topic, group)
        CONSUMER_STOPPED.labels(*self._labels).set(0)

    @property
    def health_name(self) -> str:
        return f"consumer:{self.topic}"

    async def process(self, record: ReceivedRecord) -> Outcome:
        EVENTS_CONSUMED.labels(*self._labels).inc()
        if self.halted:
            # Messages already fetched before the stop took effect: leave them uncommitted.
            return Outcome.HALTED
        with log_context(topic=record.topic):
            try:
                event = self.parse(record.value)
            except Exception as exc:
                log.warning(
                    "poison message at %s[%d]@%d: %s",
                    record.topic,
                    record.partition,
                    record.offset,
                    exc,
                )
                return await self._dead_letter(record, "poison", exc, attempts=1)
            with log_context(event_id=event.event_id, correlation_id=event.correlation_id):
                return await self._handle(record, event)

    async def _handle(self, record: ReceivedRecord, event: EventT) -> Outcome:
        event_id = str(event.event_id)
        delays = backoff_delays(
            self.policy.max_attempts,
            initial_s=self.policy.backoff_initial_s,
            max_s=self.policy.backoff_max_s,
        )
        handled = False
        attempt = 0
        started = time.perf_counter()
        try:
            while True:
                attempt += 1
                try:
                    if not handled:
                        if await self.processed.seen(self.group, event_id):
                            EVENTS_DUPLICATE.labels(*self._labels).inc()
                            log.info("duplicate event skipped")
                            return Outcome.DUPLICATE
                        await self.handler(event, self.deps)
                        handled = True
                    if not await self.processed.record(
                        self.group,
                        event_id,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                    ):
                        log.info("event was processed concurrently by another delivery")
                    EVENTS_PROCESSED.labels(*self._labels).inc()
                    return Outcome.PROCESSED
                except Exception as exc:
                    if not is_transient(exc, self.transient):
                        if handled:
                            # The effect happened but its record failed for a reason a retry
                            # will not fix; redeliver rather than dead-letter a done event.
                            log.exception("could not record a processed event")
                            return Outcome.REDELIVER
                        log.exception("handler failed with a non-transient error")
                        return await self._dead_letter(record, "handler_error", exc, attempt)
                    delay = next(delays, None)
                    if delay is None:
                        # The dependency is still away (a database or SMTP outage longer
                        # than the backoff): the message is not at fault, so it is read
                        # again rather than dead-lettered, and the partition waits.
                        log.error(
                            "transient error persisted after %d attempts, redelivering: %r",
                            attempt,
                            exc,
                        )
                        await self._sleep(self.policy.backoff_max_s)
                        return Outcome.REDELIVER
                    EVENTS_RETRIED.labels(*self._labels).inc()
                    log.warning(
                        "transient error, retrying in %.2fs (attempt %d of %d): %r",
                        delay,
                        attempt,
                        self.policy.max_attempts,
                        exc,
                    )
                    await self._sleep(delay)
        finally:
            HANDLER_DURATION.labels(*self._labels).observe(time.perf_counter() - started)

    async def _dead_letter(
        self, record: ReceivedRecord, reason: str, error: BaseException, attempts: int
    ) -> Outcome:
        if not self.limiter.try_acquire():
            self._halt(reason, error)
            return Outcome.HALTED
        letter = build_dead_letter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            original_headers=record.headers,
            group=self.group,
            reason=reason,
            error=error,
            attempts=attempts,
        )
        try:
            await self.dead_letters.publish(letter)
        except Exception:
            # Not on the DLQ, so it must not be committed either: seek back and retry.
            log.exception("could not publish to %s; the message will be redelivered", letter.topic)
            await self._sleep(self.policy.backoff_max_s)
            return Outcome.REDELIVER
        EVENTS_DEAD_LETTERED.labels(*self._labels, reason).inc()
        log.error(
            "dead-lettered %s[%d]@%d to %s (%s): %s",
            record.topic,
            record.partition,
            record.offset,
            letter.topic,
            reason,
            type(error).__name__,
        )
        return Outcome.DEAD_LETTERED

    def _halt(self, reason: str, error: BaseException) -> None:
        if self.halted:
            return
        self.halted = True
        CONSUMER_STOPPED.labels(*self._labels).set(1)
        message = (
            f"stopped: more than {self.limiter.max_per_window} dead letters in "
            f"{self.limiter.window_s:g}s (last: {reason}, {type(error).__name__})"
        )
        if self.health is not None:
            self.health.set_not_ready(self.health_name, message)
        log.error("consumer of %s (group %s) %s", self.topic, self.group, message)
        if self.on_halt is not None:
            self.on_halt()
