"""Wiring in one place (cosmicpython's bootstrap): one object per process holds the
broker, the database, the outbox relay, the consumers and the HTTP app, and the app's
lifespan starts and stops them in order. A service's `__main__` stays a few lines:

    from shopwatch.routing.app import wire          # def wire(service: Service) -> None
    from shopwatch.routing.config import RoutingSettings
    from shopwatch.runtime.service_main import run_service

    def main() -> None:
        run_service(RoutingSettings(), wire)

Start order: indexes and the service's start-up hooks (they need MongoDB), the outbox
relay (so events written by the first handled message go out), then the broker, which
starts the consumers. Stop is the reverse: consumers first (no new work), then the relay
(the last events out), then hooks and the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, Generic, TypeVar

import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.collection import AsyncCollection

from shopwatch.runtime.broker import kafka_broker
from shopwatch.runtime.codec import topic_parser
from shopwatch.runtime.consumer import ConsumerPolicy, Handler, IdempotentConsumer, Parser
from shopwatch.runtime.db import mongo_client, service_database
from shopwatch.runtime.health import Health, Probe
from shopwatch.runtime.kafka_clients import idempotent_producer
from shopwatch.runtime.logging import configure_logging
from shopwatch.runtime.ops_app import create_ops_app, kafka_probe, mongo_probe
from shopwatch.runtime.processed import PROCESSED_EVENTS, MongoProcessedEvents, RecordedByHandler
from shopwatch.runtime.processed_pruning import ProcessedEventsPruner
from shopwatch.runtime.relay import OutboxRelay
from shopwatch.runtime.renewing_producer import RenewingProducer
from shopwatch.runtime.settings import RuntimeSettings
from shopwatch.runtime.subscription import ProducerDeadLetterPublisher, subscribe
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.topics import dlq_topic, is_known_topic

log = logging.getLogger(__name__)
STOP_STEP_TIMEOUT_S = 20.0

SettingsT = TypeVar("SettingsT", bound=RuntimeSettings)
DepsT = TypeVar("DepsT")
EventT = TypeVar("EventT", bound=Envelope[Any])
Hook = Callable[[], Awaitable[None]]
Document = dict[str, Any]


class Service(Generic[SettingsT]):
    """The runtime of one service process, built from its settings."""

    def __init__(self, settings: SettingsT, *, broker: KafkaBroker | None = None) -> None:
        self.settings = settings
        self.health = Health(timeout_s=settings.health_check_timeout_s)
        self.broker = broker or kafka_broker(settings)
        self.mongo = mongo_client(settings)
        self.db = service_database(self.mongo, settings.database_name)
        self.processed = MongoProcessedEvents(self.db[PROCESSED_EVENTS])
        # One idempotent producer for the outbox relay and the dead letters, renewed when
        # its sequence breaks (FastStream's own producer would not be).
        self._producer = RenewingProducer(lambda: idempotent_producer(settings))
        self._producer_started = False
        self.dead_letters = ProducerDeadLetterPublisher(self._producer)
        self.consumers: list[IdempotentConsumer[Any, Any]] = []
        self.relay: OutboxRelay | None = None
        self.pruner = ProcessedEventsPruner(
            self.processed,
            keep=timedelta(days=settings.processed_events_keep_days),
            interval_s=settings.processed_events_prune_interval_s,
        )
        self._outbox_collections: list[AsyncCollection[Document]] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        self.health.add_probe("kafka", kafka_probe(self.broker, settings.health_check_timeout_s))
        self.health.add_probe("mongo", mongo_probe(self.mongo))
        self.app: FastAPI = create_ops_app(
            self.health, title=f"shopwatch {settings.service_name}", lifespan=self._lifespan
        )

    # --- wiring (before start) -------------------------------------------------------

    def consume(
        self,
        topic: str,
        handler: Handler[EventT, DepsT],
        deps: DepsT,
        *,
        parse: Parser[EventT] | None = None,
        group: str | None = None,
        transient: tuple[type[BaseException], ...] = (),
        policy: ConsumerPolicy | None = None,
        handler_records_events: bool = False,
        **subscriber_options: Any,
    ) -> IdempotentConsumer[EventT, DepsT]:
        """Run `handler(event, deps)` for each event on the (unprefixed) `topic`.

        The parser defaults to the contract's registry for that topic (every event type
        it carries); the group defaults to `<prefix>.<service>.<topic>`; retries and the
        dead-letter limit default to the settings (`consumer_*`, `dlq_*`); `transient`
        adds exception types worth retrying (e.g. an SMTP 4xx); other keyword arguments
        go to FastStream's `broker.subscriber` (e.g. `max_poll_records`).
        `handler_records_events`: the handler stores each event id with its effect in one
        write and skips ids it finds there, so `processed_events` is not used (see
        `processed.RecordedByHandler`).
        """
        physical = self.settings.topic(topic)
        if is_known_topic(topic):
            dlq_topic(physical, self.settings.topic_prefix)  # fails now if it has no DLQ
        if parse is None:
            parse = topic_parser(topic)  # type: ignore[assignment]
        assert parse is not None
        consumer: IdempotentConsumer[EventT, DepsT] = IdempotentConsumer(
            topic=physical,
            group=group or self.settings.topic(f"{self.settings.service_name}.{topic}"),
            handler=handler,
            deps=deps,
            parse=parse,
            processed=RecordedByHandler() if handler_records_events else self.processed,
            dead_letters=self.dead_letters,
            policy=policy or ConsumerPolicy.from_settings(self.settings),
            health=self.health,
            transient=transient,
        )
        subscribe(self.broker, consumer, **subscriber_options)
        self.consumers.append(consumer)
        return consumer

    def outbox(self, collection: AsyncCollection[Document]) -> None:
        """Relay the outbox entries written into documents of `collection`."""
        if not self._outbox_collections:
            self.health.add_probe("outbox-relay", self._relay_probe)
        self._outbox_collections.append(collection)

    def nudge_outbox(self) -> None:
        """Ask the relay to sweep for pending entries now.

        Prefer `notify_outbox(collection, doc_id)`: a sweep is a query for pending
        documents, which FerretDB 1.24 answers by scanning the whole collection, while a
        notified document is read by `_id` alone.
        """
        if self.relay is not None:
            self.relay.nudge()

    def notify_outbox(
        self, collection: AsyncCollection[Document], doc_id: Any, inserted: Document | None = None
    ) -> None:
        """Call right after a write that pushed outbox entries into document `doc_id`:
        the relay publishes them at once (see `outbox.py`). After an insert, pass the
        document as `inserted` and the relay does not read it back."""
        if self.relay is not None:
            self.relay.notify(collection, doc_id, inserted)
        # Before start (or without relay) there is nothing to wake: the relay's first
        # sweep at start finds every pending entry.

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown.append(hook)

    def add_readiness_probe(self, name: str, probe: Probe) -> None:
        self.health.add_probe(name, probe)

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self.consumers:
            await self.processed.ensure_indexes()
            self.pruner.start()
        for hook in self._startup:
            await hook()
        if self.consumers or self._outbox_collections:
            await self._producer.start()
            self._producer_started = True
        if self._outbox_collections:
            self.relay = OutboxRelay(
                self._outbox_collections,
                self._producer,
                poll_interval_s=self.settings.outbox_poll_interval_s,
                sweep_interval_s=self.settings.outbox_sweep_interval_s,
                batch_size=self.settings.outbox_batch_size,
            )
            await self.relay.start()
        await self.broker.start()
        log.info(
            "%s started: kafka %s, mongo %s, %d consumer(s), outbox on %s",
            self.settings.service_name,
            self.settings.kafka_bootstrap,
            self.settings.mongo_url_for_logs(),
            len(self.consumers),
            [c.name for c in self._outbox_collections] or "nothing",
        )

    async def stop(self) -> None:
        # Each step runs even if an earlier one failed: a half-stopped process that
        # keeps a Kafka session or a connection pool open is worse than a logged error.
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("broker", self.broker.stop),
            ("processed-events pruner", self.pruner.stop),
        ]
        if self.relay is not None:
            steps.append(("outbox relay", self.relay.stop))
        if self._producer_started:
            steps.append(("producer", self._producer.stop))
        steps.extend((f"shutdown hook {h!r}", h) for h in reversed(self._shutdown))
        steps.append(("mongo", self.mongo.close))
        for name, step in steps:
            try:
                # Bounded: a broker that stops answering (a LeaveGroup that never returns)
                # must not hold the process, and a SIGTERM, hostage for minutes.
                await asyncio.wait_for(step(), timeout=STOP_STEP_TIMEOUT_S)
            except TimeoutError:
                log.error("stopping %s took over %.0fs; going on", name, STOP_STEP_TIMEOUT_S)
            except Exception:
                log.exception("stopping %s failed", name)
        log.info("%s stopped", self.settings.service_name)

    async def _relay_probe(self) -> None:
        if self.relay is None or not self.relay.running:
            raise RuntimeError("the outbox relay is not running")

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        try:
            await self.start()
        except BaseException:
            # Half-started (e.g. Kafka unreachable): release what did start, then fail
            # the start-up so the supervisor restarts the process.
            await self.stop()
            raise
        try:
            yield
        finally:
            await self.stop()


def run_service(settings: SettingsT, wire: Callable[[Service[SettingsT]], None]) -> None:
    """Configure logging, build and wire the service, serve it until SIGTERM/SIGINT."""
    configure_logging(settings.service_name, settings.log_level, secrets=settings.secret_values())
    service = Service(settings)
    wire(service)
    uvicorn.run(
        service.app,
        host=settings.service_host,
        port=settings.service_port,
        log_config=None,  # keep our JSON handler; uvicorn would install its own
        access_log=False,  # one line per health probe is noise; metrics count requests
    )
