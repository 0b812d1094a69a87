"""The outbox relay: publishes what services wrote into their documents' outboxes.

Two ways a document comes to the relay's attention:
- a hint: right after its write, the service calls `relay.notify(collection, doc_id)`;
  this is the fast path (a case must reach its force within milliseconds);
- the sweep: a query for documents with pending entries, at start, every
  `sweep_interval_s` and on `nudge()`; it finds what hints missed (the process died
  after the write, a publish failed) and feeds the ids back as hints.

Publishing a hinted document:
1. read it by `_id` (unless the hint came with the document as just inserted);
2. send its entries with the idempotent producer, in array order, and await delivery;
3. remove exactly the delivered entries: `$pullAll` by `_id`, one `bulk_write` for the
   batch, in the background (the next documents are read and sent meanwhile; these are
   not read again before).

Every read and write of step 1-3 filters on `_id` alone, because that is the only
filter FerretDB 1.24 (SQLite) executes without scanning the collection; the sweep's
query does scan there, so it runs beside the fast path (never blocking it) and backs
off to take at most ~10% of the time. On MongoDB the sweep uses the `outbox.created_at`
index. (FerretDB also ignores array semantics when sorting on `outbox.created_at`, so
there the sweep's "oldest first" is best effort; the order within a document, which is
the order per key, never depends on it.)

Failure modes, and why they are safe:
- crash before 2 completes: nothing was removed; the sweep of the next relay (or this
  one after a restart) finds the entries and publishes them -> nothing lost;
- crash between 2 and 3: the entries are published again -> a duplicate on the wire
  with the same `event_id`, which the idempotent consumers drop;
- a service pushing new entries while 3 runs: `$pullAll` removes only the entries sent.

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

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shopwatch.runtime.kafka_clients import RecordSender
from shopwatch.runtime.logging import log_context
from shopwatch.runtime.metrics import (
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    OUTBOX_PUBLISH_ERRORS,
    OUTBOX_PUBLISHED,
)
from shopwatch.runtime.outbox import CREATED_AT_PATH, OUTBOX_FIELD, PENDING_FILTER

log = logging.getLogger(__name__)

Document = dict[str, Any]
Hook = Callable[[str, Sequence[Document]], Awaitable[None]]

# The sweep may take at most this share of wall time (it scans on FerretDB).
SWEEP_MAX_SHARE = 0.1
# Reads by _id run this many at a time (below the driver's default pool of 100).
READ_CONCURRENCY = 16


@dataclass(frozen=True)
class RelayHooks:
    """Test seams: awaited before sending / before clearing (collection, documents).

    Integration tests raise from them to kill the relay at the worst moments.
    """

    before_publish: Hook | None = None
    before_clear: Hook | None = None


async def ensure_outbox_index(collection: AsyncCollection[Document]) -> None:
    """Lets MongoDB answer the sweep from the index (documents without pending entries
    have no `outbox.created_at` key in range). FerretDB accepts it and still scans."""
    await collection.create_index([(CREATED_AT_PATH, 1)], name="outbox_pending")


class OutboxRelay:
    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        producer: RecordSender,
        *,
        poll_interval_s: float = 1.0,
        sweep_interval_s: float | None = None,
        batch_size: int = 100,
        hooks: RelayHooks | None = None,
    ) -> None:
        if not collections:
            raise ValueError("the relay needs at least one collection")
        self._collections = {c.name: c for c in collections}
        self._producer = producer
        self._poll_interval_s = poll_interval_s
        # Hints carry the normal flow; the sweep only finds what they missed (a writer
        # that died before its hint, another instance's writes). On FerretDB it scans the
        # whole collection, which stalled the hinted path: at 20 reports/s a sweep every
        # second doubled routing's p99 (96 ms against 46 ms without), so it runs less often.
        self._sweep_interval_s = poll_interval_s if sweep_interval_s is None else sweep_interval_s
        self._batch_size = batch_size
        self._hooks = hooks or RelayHooks()
        # Insertion-ordered document ids per collection, oldest hint first, each with the
        # document as its writer inserted it (then it need not be read back) or None.
        self._hints: dict[str, dict[Any, Document | None]] = {
            name: {} for name in self._collections
        }
        # Documents whose delivered entries are being removed. They are not read again
        # until that is done, or their entries would be read (and sent) a second time;
        # other documents do not wait for it, which keeps one slow update out of the
        # latency of the next event.
        self._clearing: dict[str, set[Any]] = {name: set() for name in self._collections}
        self._clear_tasks: set[asyncio.Task[None]] = set()
        self._fatal: BaseException | None = None
        self._wake = asyncio.Event()
        # Read-and-send phases must not overlap either, for the same reason.
        self._cycle_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._sweep_requested = True
        self._next_sweep = 0.0

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start (or restart after `stop`); the first thing it does is a sweep, which is
        what publishes entries left behind by a crash."""
        for collection in self._collections.values():
            await ensure_outbox_index(collection)
        self._fatal = None
        self._sweep_requested = True
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, *, grace_s: float = 5.0) -> None:
        """Stop; removals of already delivered entries get `grace_s` to finish, so a
        clean stop does not leave duplicates for the next start."""
        for task in (self._sweep_task, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._sweep_task = self._task = None
        if self._clear_tasks:
            _, late = await asyncio.wait(set(self._clear_tasks), timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    def notify(
        self,
        collection: AsyncCollection[Document] | str,
        doc_id: Any,
        inserted: Document | None = None,
    ) -> None:
        """Publish this document's pending entries now: call right after the write.

        `inserted`: the document exactly as just inserted, when the write was an insert;
        its entries are then sent without reading it back (a round trip saved per
        document; on FerretDB the read costs as much as the insert). Only an insert's
        caller knows the whole stored document: after an update, pass nothing. If the
        document was already hinted, it is read anyway, since a later write may have
        added entries. Cheap and safe from any coroutine; hints for one document coalesce.
        """
        name = collection if isinstance(collection, str) else collection.name
        if name not in self._hints:
            raise KeyError(f"the relay does not watch collection {name!r}")
        hints = self._hints[name]
        hints[doc_id] = None if inserted is None or doc_id in hints else inserted
        self._wake.set()

    def nudge(self) -> None:
        """Sweep for pending documents now (when the written ids are not at hand)."""
        self._sweep_requested = True
        self._wake.set()

    # --- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            if self._fatal is not None:
                raise self._fatal
            self._maybe_start_sweep()
            try:
                more = await self._publish_hinted()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                # Kafka or MongoDB is down: the entries stay, back off, try again.
                failures += 1
                log.exception("outbox relay cycle failed; entries stay pending")
                await asyncio.sleep(min(self._poll_interval_s * failures, 30.0))
                continue
            if more:
                continue  # hints left over a full batch: no sleeping
            await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        # Until a hint, a nudge, a finished removal, or the next sweep is due. While a
        # sweep runs, its end wakes the loop, so there is no deadline to watch.
        if self._sweep_task is not None and not self._sweep_task.done():
            timeout = self._poll_interval_s
        else:
            timeout = min(self._poll_interval_s, max(0.0, self._next_sweep - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    def _maybe_start_sweep(self) -> None:
        if self._sweep_task is not None and not self._sweep_task.done():
            return
        if not self._sweep_requested and time.monotonic() < self._next_sweep:
            return
        self._sweep_requested = False
        self._sweep_task = asyncio.create_task(self._sweep_all(), name="outbox-sweep")

    async def _sweep_all(self) -> None:
        started = time.monotonic()
        try:
            for collection in self._collections.values():
                await self.sweep(collection)
        except Exception:
            log.exception("outbox sweep failed; retrying at the next interval")
        finally:
            took = time.monotonic() - started
            # A sweep that took 2 s waits 18 s for the next one: bounded load on FerretDB.
            self._next_sweep = time.monotonic() + max(
                self._sweep_interval_s, took / SWEEP_MAX_SHARE - took
            )
            self._wake.set()

    async def sweep(self, collection: AsyncCollection[Document]) -> int:
        """Find documents with pending entries, hint them, update the gauges.

        Returns the number of pending entries seen (a lower bound when more than
        `10 * batch_size` documents are pending).
        """
        docs = await (
            collection.find(PENDING_FILTER, {"_id": 1, CREATED_AT_PATH: 1})
            .sort(CREATED_AT_PATH, 1)
            .limit(self._batch_size * 10)
            .to_list()
        )
        pending = 0
        oldest: datetime | None = None
        for doc in docs:
            entries = doc.get(OUTBOX_FIELD) or []
            pending += len(entries)
            for entry in entries:
                created = _aware(entry.get("created_at"))
                if created is not None and (oldest is None or created < oldest):
                    oldest = created
            self._hints[collection.name].setdefault(doc["_id"], None)
        OUTBOX_PENDING.labels(collection.name).set(pending)
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        OUTBOX_OLDEST_AGE.labels(collection.name).set(max(0.0, age))
        return pending

    async def run_once(self) -> None:
        """Sweep every collection, publish everything found and wait for the removals
        (tests, tools)."""
        if self._clear_tasks:  # let removals in flight land, so the gauges are current
            await asyncio.wait(set(self._clear_tasks))
        for collection in self._collections.values():
            await self.sweep(collection)
        while True:
            more = await self._publish_hinted()
            if self._clear_tasks:
                await asyncio.wait(set(self._clear_tasks))
            if self._fatal is not None:
                raise self._fatal
            if not more and not any(self._hints.values()):
                return

    async def _publish_hinted(self) -> bool:
        """Publish up to one batch of hinted documents per collection; True if more wait."""
        more = False
        async with self._cycle_lock:
            for name, collection in self._collections.items():
                hints, clearing = self._hints[name], self._clearing[name]
                ids = [i for i in hints if i not in clearing][: self._batch_size]
                taken = {doc_id: hints.pop(doc_id) for doc_id in ids}
                more = more or any(i not in clearing for i in hints)
                if taken:
                    await self._publish(collection, taken)
        return more

    async def _publish(
        self, collection: AsyncCollection[Document], taken: dict[Any, Document | None]
    ) -> None:
        ids = list(taken)
        try:
            read = await self._read(collection, [i for i, d in taken.items() if d is None])
            by_id = {d["_id"]: d for d in read}
            # In hint order, as before: the order the writers announced them.
            found = (taken[i] if taken[i] is not None else by_id.get(i) for i in ids)
            docs = [d for d in found if d is not None and d.get(OUTBOX_FIELD)]
        except BaseException:
            self._rehint(collection.name, ids)
            raise
        if not docs:
            return
        try:
            if self._hooks.before_publish:
                await self._hooks.before_publish(collection.name, docs)
            delivered, error = await self._send(docs)
        except BaseException:
            self._rehint(collection.name, ids)
            OUTBOX_PUBLISH_ERRORS.labels(collection.name).inc()
            raise
        # Remove what was delivered in the background; until then these documents are
        # not read again (see `_clearing`).
        self._clearing[collection.name].update(d["_id"] for d in docs)
        task = asyncio.create_task(self._clear(collection, docs, delivered))
        self._clear_tasks.add(task)
        task.add_done_callback(self._clear_tasks.discard)
        if error is not None:
            # The undelivered rest of those documents is read again after the removal.
            self._rehint(collection.name, [d["_id"] for d in docs])
            OUTBOX_PUBLISH_ERRORS.labels(collection.name).inc()
            raise error

    async def _send(
        self, docs: list[Document]
    ) -> tuple[list[tuple[Document, list[Document]]], BaseException | None]:
        # Enqueue everything first, then await: the producer batches per partition and
        # keeps the send order per partition, which is the per-key order we promise.
        pending: list[tuple[Document, list[tuple[Document, asyncio.Future[Any]]]]] = []
        for doc in docs:
            futures = []
            for entry in doc[OUTBOX_FIELD]:
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
                except Exception as exc:  # the rest of this document waits for a retry
                    first_error = first_error or exc
                    break
                sent_entries.append(entry)
            # Only the delivered prefix is removed, so a retry never reorders a document's
            # events: an entry is published again only together with those after it.
            delivered.append((doc, sent_entries))
        return delivered, first_error

    async def _clear(
        self,
        collection: AsyncCollection[Document],
        docs: list[Document],
        delivered: list[tuple[Document, list[Document]]],
    ) -> None:
        try:
            if self._hooks.before_clear:
                await self._hooks.before_clear(collection.name, docs)
            cleared = [(doc, sent) for doc, sent in delivered if sent]
            if cleared:
                # One command for the whole batch: on FerretDB it costs about 60% of the
                # database CPU of one `update_one` per document, and half the wall time
                # (bench/intake/bench_store_ops.py). Exactly the entries as read:
                # whole-entry equality works on MongoDB and FerretDB alike (FerretDB 1.24
                # accepts `$pull` with a condition on an entry's field but removes nothing).
                await collection.bulk_write(
                    [
                        UpdateOne({"_id": doc["_id"]}, {"$pullAll": {OUTBOX_FIELD: sent}})
                        for doc, sent in cleared
                    ],
                    ordered=False,
                )
            for _, sent_entries in cleared:
                for entry in sent_entries:
                    OUTBOX_PUBLISHED.labels(collection.name, entry["topic"]).inc()
                    with log_context(event_id=entry["event_id"], topic=entry["topic"]):
                        log.debug("outbox entry published")
        except Exception:
            # Delivered but not removed: they go out again (duplicates, dropped downstream).
            OUTBOX_PUBLISH_ERRORS.labels(collection.name).inc()
            log.exception("could not remove published outbox entries; they will be resent")
            self._rehint(collection.name, [d["_id"] for d in docs])
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._fatal = exc  # the loop re-raises it: the relay dies, like a process
            raise
        finally:
            self._clearing[collection.name].difference_update(d["_id"] for d in docs)
            self._wake.set()

    def _rehint(self, name: str, ids: list[Any]) -> None:
        for doc_id in ids:
            self._hints[name].setdefault(doc_id, None)

    async def _read(self, collection: AsyncCollection[Document], ids: list[Any]) -> list[Document]:
        docs: list[Document] = []
        for start in range(0, len(ids), READ_CONCURRENCY):
            chunk = ids[start : start + READ_CONCURRENCY]
            found = await asyncio.gather(
                *(collection.find_one({"_id": i}, {OUTBOX_FIELD: 1}) for i in chunk)
            )
            docs.extend(d for d in found if d is not None and d.get(OUTBOX_FIELD))
        return docs


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # A client without tz_aware returns naive datetimes, which are UTC in BSON.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
