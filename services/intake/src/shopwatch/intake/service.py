"""Intake's use cases: authenticate a key, accept reports (one or a batch), read them back,
and keep the status timeline the retailer sees.

No HTTP here: handlers parse and delegate; this module decides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopwatch.intake import api_keys
from shopwatch.intake.adapters.mongo_reports import DuplicateReport, MongoReports
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.pagination import Cursor, encode_cursor
from shopwatch.intake.references import day_key, format_reference
from shopwatch.intake.tenancy import ApiKeyRecord, Store, new_id, report_id_for_key
from shopwatch.intake.ttl_cache import TtlCache
from shopwatch.runtime.outbox import OutboxMessage, outbox_fields
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import CaseStatusChanged, ReportSubmitted
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.report import Report
from shopwatch.schemas.topics import REPORTS_SUBMITTED

Document = dict[str, Any]
PRODUCER = "intake"


class NotAuthenticated(Exception):
    """Missing, malformed, unknown or revoked key: one answer for all, so no oracle."""


class NotFound(Exception):
    """Absent, or another retailer's: the API never tells the two apart."""


class IdempotencyConflict(Exception):
    """The key was used before with a different body."""


@dataclass(frozen=True)
class Caller:
    retailer_id: str
    key_id: str


@dataclass(frozen=True)
class Accepted:
    report_id: str
    reference: str
    status: str
    replayed: bool = False


@dataclass(frozen=True)
class BatchItem:
    """One entry of a batch after parsing: a report, or the errors that stopped it."""

    report: Report | None
    idempotency_key: str | None
    fingerprint: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BatchOutcome:
    index: int
    status: str  # accepted | duplicate | conflict | rejected
    report_id: str | None = None
    reference: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IntakeService:
    tenants: MongoTenants
    reports: MongoReports
    topic: Callable[[str], str]
    # Tells the outbox relay which document to publish from, right after the write; the
    # document is passed as written, so the relay need not read it back.
    announce: Callable[[str, Document], None]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Keys and stores are read on every request and change rarely: remembered briefly.
    keys_seen: TtlCache[str, ApiKeyRecord] = field(default_factory=lambda: TtlCache(1.0))
    stores_seen: TtlCache[str, Store] = field(default_factory=lambda: TtlCache(1.0))

    async def authenticate(self, presented: str) -> Caller:
        try:
            key = api_keys.parse_key(presented)
        except api_keys.MalformedApiKey as exc:
            raise NotAuthenticated from exc
        record = self.keys_seen.get(key.key_id)
        if record is None:
            record = await self.tenants.get_key(key.key_id)
            if record is not None:
                self.keys_seen.put(key.key_id, record)
        if record is None or not record.active:
            raise NotAuthenticated
        if not api_keys.secret_matches(key, record.secret_hash):
            raise NotAuthenticated
        return Caller(retailer_id=record.retailer_id, key_id=record.key_id)

    async def _store(self, store_id: str) -> Store | None:
        store = self.stores_seen.get(store_id)
        if store is None:
            store = await self.tenants.get_store(store_id)
            if store is not None:
                self.stores_seen.put(store_id, store)
        return store

    async def _own_store(self, caller: Caller, store_id: str) -> Store:
        store = await self._store(store_id)
        if store is None or store.retailer_id != caller.retailer_id:
            raise NotFound(f"store {store_id} not found")
        return store

    async def submit(
        self, caller: Caller, report: Report, idempotency_key: str | None, fingerprint: str
    ) -> Accepted:
        # Insert first, look up only on a collision: on FerretDB (SQLite) a lookup by _id
        # that misses scans the whole collection, so checking for a replay before every
        # new report made each submission cost O(reports stored).
        store = await self._own_store(caller, report.store_id)
        (sequence,) = await self.reports.next_sequences(day_key(self.clock()), 1)
        doc = self._report_document(caller, store, report, idempotency_key, fingerprint, sequence)
        try:
            await self.reports.insert(doc)
        except DuplicateReport:
            # Two requests with one key raced; the loser answers like a replay.
            assert idempotency_key is not None
            previous = await self._replay(caller, idempotency_key, fingerprint)
            assert previous is not None
            return previous
        self.announce(doc["_id"], doc)
        return Accepted(report_id=doc["_id"], reference=doc["reference"], status=doc["status"])

    async def submit_batch(self, caller: Caller, items: Sequence[BatchItem]) -> list[BatchOutcome]:
        outcomes: dict[int, BatchOutcome] = {}
        pending: list[tuple[int, BatchItem, Store]] = []
        stores: dict[str, Store | None] = {}
        for index, item in enumerate(items):
            if item.report is None:
                outcomes[index] = BatchOutcome(index, "rejected", errors=item.errors)
                continue
            # Replays are found by the insert's collision below, not looked up first (see
            # `submit`).
            store_id = item.report.store_id
            if store_id not in stores:
                found = await self._store(store_id)
                owned = found is not None and found.retailer_id == caller.retailer_id
                stores[store_id] = found if owned else None
            store = stores[store_id]
            if store is None:
                error = {"loc": ["report", "store_id"], "msg": f"store {store_id} not found"}
                outcomes[index] = BatchOutcome(index, "rejected", errors=[error])
                continue
            pending.append((index, item, store))
        if pending:
            sequences = await self.reports.next_sequences(day_key(self.clock()), len(pending))
            docs = [
                self._report_document(
                    caller, store, item.report, item.idempotency_key, item.fingerprint, seq
                )
                for (_, item, store), seq in zip(pending, sequences, strict=True)
                if item.report is not None
            ]
            duplicates = await self.reports.insert_many(docs)
            for position, ((index, item, _), doc) in enumerate(zip(pending, docs, strict=True)):
                if position in duplicates and item.idempotency_key is not None:
                    previous = await self._previous(caller, item.idempotency_key)
                    assert previous is not None
                    outcomes[index] = _replay_outcome(index, previous, item.fingerprint)
                else:
                    self.announce(doc["_id"], doc)
                    outcomes[index] = BatchOutcome(
                        index, "accepted", report_id=doc["_id"], reference=doc["reference"]
                    )
        return [outcomes[i] for i in range(len(items))]

    async def get(self, caller: Caller, report_id: str) -> Document:
        doc = await self.reports.get(caller.retailer_id, report_id)
        if doc is None:
            raise NotFound(f"report {report_id} not found")
        return doc

    async def list(
        self,
        caller: Caller,
        *,
        store_id: str | None,
        status: str | None,
        submitted_from: datetime | None,
        submitted_to: datetime | None,
        after: Cursor | None,
        limit: int,
    ) -> tuple[list[Document], str | None]:
        rows = await self.reports.list(
            caller.retailer_id,
            store_id=store_id,
            status=status,
            submitted_from=submitted_from,
            submitted_to=submitted_to,
            after=after,
            limit=limit + 1,
        )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(Cursor(last["submitted_at"], last["_id"]))
        return rows, next_cursor

    async def record_status_change(self, event: Envelope[CaseStatusChanged]) -> bool:
        change = event.payload
        entry = {
            "status": str(change.status),
            "at": change.changed_at,
            "by": change.force,
            "detail": change.model_dump(
                mode="json",
                exclude={"case_id", "report_id", "status", "changed_at", "retailer_id", "store_id"},
                exclude_none=True,
            ),
        }
        return await self.reports.append_status(
            change.report_id, str(event.event_id), str(change.status), entry
        )

    async def _previous(self, caller: Caller, key: str) -> Document | None:
        previous = await self.reports.by_id(report_id_for_key(caller.retailer_id, key))
        # The id embeds the retailer, but check anyway: tenancy never rests on a hash alone.
        if previous is None or previous["retailer_id"] != caller.retailer_id:
            return None
        return previous

    async def _replay(self, caller: Caller, key: str, fingerprint: str) -> Accepted | None:
        previous = await self._previous(caller, key)
        if previous is None:
            return None
        if previous["fingerprint"] != fingerprint:
            raise IdempotencyConflict(key)
        return Accepted(previous["_id"], previous["reference"], "submitted", replayed=True)

    def _report_document(
        self,
        caller: Caller,
        store: Store,
        report: Report,
        idempotency_key: str | None,
        fingerprint: str,
        sequence: int,
    ) -> Document:
        now = self.clock()
        report_id = (
            report_id_for_key(caller.retailer_id, idempotency_key)
            if idempotency_key is not None
            else new_id("rep")
        )
        reference = format_reference(day_key(now), sequence)
        event = ReportSubmitted(
            report_id=report_id,
            reference=reference,
            retailer_id=caller.retailer_id,
            store=store.snapshot(),
            report=report,
            submitted_at=now,
        )
        envelope = make_envelope(event, producer=PRODUCER)
        message = OutboxMessage(envelope, self.topic(REPORTS_SUBMITTED), key=report_id)
        return {
            "_id": report_id,
            "retailer_id": caller.retailer_id,
            "store_id": store.store_id,
            "reference": reference,
            "status": "submitted",
            "submitted_at": now,
            "occurred_at": report.occurred_at,
            "offence_type": str(report.offence_type),
            "idempotency_key": idempotency_key,
            "fingerprint": fingerprint,
            "report": report.model_dump(mode="json"),
            "store": store.snapshot().model_dump(mode="json"),
            "timeline": [{"status": "submitted", "at": now, "by": "retailer"}],
            "applied_events": [],
            **outbox_fields([message], now=now),
        }


def _replay_outcome(index: int, previous: Document, fingerprint: str) -> BatchOutcome:
    if previous["fingerprint"] != fingerprint:
        error = {"loc": ["idempotency_key"], "msg": "key reused with a different report"}
        return BatchOutcome(index, "conflict", errors=[error])
    return BatchOutcome(
        index, "duplicate", report_id=previous["_id"], reference=previous["reference"]
    )
