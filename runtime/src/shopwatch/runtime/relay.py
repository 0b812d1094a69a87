"""The outbox relay: publishes what services wrote into their documents' outboxes.

One cycle, per collection:
1. find documents with `outbox_pending_since` set, oldest first, at most `batch_size`;
2. send every entry with the idempotent producer, in array order, and await delivery;
3. clear what was sent with a conditional single-document update.

Failure modes, and why they are safe:
- crash before 2 completes: nothing was cleared, the next relay (or this one after a
  restart) publishes the entries again -> nothing lost;
- crash between 2 and 3: the entries are published again -> a duplicate on the wire
  with the same `event_id`, which the idempotent consumers drop;
- a service pushing new entries while 3 runs: 3 only clears the exact entries it sent
  (compare-and-clear on the whole array, else `$pullAll` of those entries), so new
  entries stay.

Run one relay per service instance; two relays on the same collection are safe (both
publish, consumers drop the duplicates) but waste work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shopwatch.runtime.kafka_clients import RecordSender
from shopwatch.runtime.logging import log_context
from shopwatch.runtime.metrics import (
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    OUTBOX_PUBLISH_ERRORS,
    OUTBOX_PUBLISHED,
)
from shopwatch.runtime.outbox import OUTBOX_FIELD, PENDING_SINCE_FIELD

log = logging.getLogger(__name__)

Document = dict[str, Any]
Hook = Callable[[str, Sequence[Document]], Awaitable[None]]

PENDING_FILTER: Document = {PENDING_SINCE_FIELD: {"$exists": True}}


@dataclass(frozen=True)
class RelayHooks:
    """Test seams: awaited before sending / before clearing (collection, documents).

    Integration tests raise from them to kill the relay at the worst moments.
    """

    before_publish: Hook | None = None
    before_clear: Hook | None = None


async def ensure_outbox_index(collection: AsyncCollection[Document]) -> None:
    """A sparse index on the marker: only documents with pending events are in it, so
    finding work costs the same whatever the collection's size.

    MongoDB would also take a partial index; FerretDB 1.24 answers "partialFilterExpression
    is not implemented", while both accept `sparse`, and the relay's `$exists: true`
    filter lets MongoDB use a sparse index for the sort.
    """
    await collection.create_index(
        [(PENDING_SINCE_FIELD, 1)], name="outbox_pending_since", sparse=True
    )


class OutboxRelay:
    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        producer: RecordSender,
        *,
        poll_interval_s: float = 1.0,
        batch_size: int = 100,
        metrics_interval_s: float | None = None,
        hooks: RelayHooks | None = None,
    ) -> None:
        if not collections:
            raise ValueError("the relay needs at least one collection")
        self._collections = list(collections)
        self._producer = producer
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._metrics_interval_s = (
            metrics_interval_s if metrics_interval_s is not None else max(poll_interval_s, 1.0)
        )
        self._hooks = hooks or RelayHooks()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._metrics_due = 0.0
        # Cycles must not overlap (a test or an operator calling run_once while the loop
        # runs): two cycles reading the same documents would publish them twice.
        self._cycle_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        for collection in self._collections:
            await ensure_outbox_index(collection)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def nudge(self) -> None:
        """Wake the relay now: call it right after writing outbox entries.

        Cheap and safe from any coroutine; nudges while a cycle runs coalesce into one
        more cycle, so none is lost.
        """
        self._wake.set()

    # --- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                _, full = await self.run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                # Kafka or MongoDB is down: keep the entries, back off, try again.
                failures += 1
                for collection in self._collections:
                    OUTBOX_PUBLISH_ERRORS.labels(collection.name).inc()
                log.exception("outbox relay cycle failed; entries stay pending")
                await asyncio.sleep(min(self._poll_interval_s * failures, 30.0))
                continue
            if full:
                continue  # a full batch means more is waiting; do not sleep
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval_s)

    async def run_once(self) -> tuple[int, bool]:
        """One cycle over every collection: (entries published, any batch was full)."""
        async with self._cycle_lock:
            return await self._cycle()

    async def _cycle(self) -> tuple[int, bool]:
        total, full = 0, False
        for collection in self._collections:
            sent, was_full = await self._relay_collection(collection)
            total += sent
            full = full or was_full
        if time.monotonic() >= self._metrics_due:
            self._metrics_due = time.monotonic() + self._metrics_interval_s
            for collection in self._collections:
                await self.refresh_metrics(collection)
        return total, full

    async def _relay_collection(self, collection: AsyncCollection[Document]) -> tuple[int, bool]:
        docs = await (
            collection.find(PENDING_FILTER, {OUTBOX_FIELD: 1, PENDING_SINCE_FIELD: 1})
            .sort(PENDING_SINCE_FIELD, 1)
            .limit(self._batch_size)
            .to_list()
        )
        if not docs:
            return 0, False
        if self._hooks.before_publish:
            await self._hooks.before_publish(collection.name, docs)

        # Enqueue everything first, then await: the producer batches per partition and
        # keeps the send order per partition, which is the per-key order we promise.
        pending: list[tuple[Document, list[tuple[Document, asyncio.Future[Any]]]]] = []
        for doc in docs:
            futures = []
            for entry in doc.get(OUTBOX_FIELD) or []:
                future = await self._producer.send(
                    entry["topic"],
                    value=entry["value"].encode(),
                    key=entry["key"].encode() if entry.get("key") is not None else None,
                    headers=[(k, v.encode()) for k, v in (entry.get("headers") or {}).items()],
                )
                futures.append((entry, future))
            pending.append((doc, futures))

        delivered: list[tuple[Document, list[Document]]] = []
        first_error: BaseException | None = None
        for doc, futures in pending:
            sent_entries: list[Document] = []
            for entry, future in futures:
                try:
                    await future
                except Exception as exc:  # the rest of this document waits for the next cycle
                    first_error = first_error or exc
                    break
                sent_entries.append(entry)
            # Only the delivered prefix is cleared, so a retry never reorders a document's
            # events: an entry is published again only together with those after it.
            delivered.append((doc, sent_entries))

        if self._hooks.before_clear:
            await self._hooks.before_clear(collection.name, docs)

        count = 0
        for doc, sent_entries in delivered:
            await self._clear(collection, doc, sent_entries)
            for entry in sent_entries:
                OUTBOX_PUBLISHED.labels(collection.name, entry["topic"]).inc()
                with log_context(event_id=entry["event_id"], topic=entry["topic"]):
                    log.debug("outbox entry published")
            count += len(sent_entries)
        if first_error is not None:
            raise first_error
        return count, len(docs) >= self._batch_size

    async def _clear(
        self, collection: AsyncCollection[Document], doc: Document, sent: list[Document]
    ) -> None:
        outbox = doc.get(OUTBOX_FIELD) or []
        if len(sent) == len(outbox):
            # Common case, one round trip: the outbox is still exactly what we read and
            # sent, so drop it and the marker together. If a service pushed meanwhile,
            # the filter misses and we fall back to removing entries one by one.
            result = await collection.update_one(
                {"_id": doc["_id"], OUTBOX_FIELD: outbox},
                {"$unset": {OUTBOX_FIELD: "", PENDING_SINCE_FIELD: ""}},
            )
            if result.matched_count == 1:
                return
        if sent:
            # `$pullAll` with the entries exactly as read, not `$pull` with a condition:
            # FerretDB 1.24 accepts `$pull: {outbox: {event_id: ...}}` but silently
            # removes nothing. Whole-document equality works on both servers.
            await collection.update_one({"_id": doc["_id"]}, {"$pullAll": {OUTBOX_FIELD: sent}})
        # Remove the marker only if nothing is pending any more (atomic with the check).
        # If a service pushed meanwhile, the marker stays at the older time: the
        # document is then picked a little early, never late.
        await collection.update_one(
            {"_id": doc["_id"], OUTBOX_FIELD: {"$size": 0}},
            {"$unset": {OUTBOX_FIELD: "", PENDING_SINCE_FIELD: ""}},
        )

    async def refresh_metrics(self, collection: AsyncCollection[Document]) -> None:
        """Pending entries and the age of the oldest one, for alerting on a stuck relay."""
        pending = 0
        oldest: datetime | None = None
        # Pending documents are few in normal operation (the relay keeps up); during an
        # outage this walks them, bounded, once per metrics interval.
        cursor = collection.find(
            PENDING_FILTER, {f"{OUTBOX_FIELD}.event_id": 1, PENDING_SINCE_FIELD: 1}
        )
        async for doc in cursor.limit(10_000):
            pending += len(doc.get(OUTBOX_FIELD) or [])
            since = doc.get(PENDING_SINCE_FIELD)
            if isinstance(since, datetime) and (oldest is None or since < oldest):
                oldest = since
        OUTBOX_PENDING.labels(collection.name).set(pending)
        age = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:  # a client without tz_aware returns naive UTC
                oldest = oldest.replace(tzinfo=UTC)
            age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
        OUTBOX_OLDEST_AGE.labels(collection.name).set(age)
