"""The continuity log in MongoDB: one append-only collection, written before the change
each entry records.

Two facts shape this. FerretDB has no multi-document transactions, so an entry (in the
``custody`` collection) and the change it records (on the evidence document) are two
writes. And FerretDB 1.x does not isolate a conditional update: two ``update_one``
calls with the same filter can both match and both report success (measured: 10
concurrent compare-and-set updates of one document, several "won"). The one write it
does make atomic is an insert against a unique index.

So the unique index on ``(evidence_id, seq)`` is the lock. A writer reads the item,
decides the change (``build``), chains its entries onto the last one and inserts them;
inserting ``seq = n + 1`` first means nobody else holds that slot, so only one writer
can follow entry *n*. Then it applies the change and moves ``custody_head`` (seq and
hash of the newest entry whose change was applied) on the evidence document, in one
update with the change's outbox events. A writer that loses the slot re-reads and
calls ``build`` again, so preconditions are always judged on fresh state.

The order means the log never under-reports: no change is applied without its entry.
If the change cannot be applied after all (the document changed meanwhile), the head is
moved past the entries at once; if the writer dies between the two writes, the next
writer chains after its entries once ``ORPHAN_GRACE`` has passed. Either way the entries
stay in the log as a record of an attempt, followed by what really happened. Writers
check their preconditions before appending, so this is a race's outcome, not routine.

``read`` checks the whole hash chain, and that the head recorded on the document (out of
the log's reach) is in it unchanged, so cutting off the newest confirmed entries is
detected as well as any edit, removal, insertion or reordering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from shopwatch.evidence import custody
from shopwatch.evidence.adapters.mongo import Document, MongoEvidence
from shopwatch.evidence.custody import Action, Actor, CustodyEntry, CustodyError, Head
from shopwatch.runtime.outbox import merge_updates

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 50
ORPHAN_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class EntrySpec:
    actor: Actor
    action: Action
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """What ``build`` decides: entries to append, the update, and conditions the document
    must still meet when it is written."""

    entries: Sequence[EntrySpec] = ()
    update: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    require: Mapping[str, Any] = field(default_factory=dict)


class WriteConflict(Exception):
    """The item kept changing under us; the caller may retry later."""


class Missing(Exception):
    """The evidence document does not exist."""


class NotApplied(Exception):
    """The entries were appended but the document no longer met ``require``."""


@dataclass(frozen=True)
class LogView:
    entries: list[CustodyEntry]
    head: Head | None
    verification: custody.VerificationResult


def initial_head(evidence_id: str) -> Document:
    return {"seq": 0, "entry_hash": custody.genesis_hash(evidence_id)}


def head_of(doc: Mapping[str, Any]) -> Head | None:
    stored = doc.get("custody_head") or {}
    seq = int(stored.get("seq", 0))
    return Head(seq, str(stored.get("entry_hash", ""))) if seq > 0 else None


class CustodyStore:
    def __init__(
        self,
        repo: MongoEvidence,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        orphan_grace: timedelta = ORPHAN_GRACE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.orphan_grace = orphan_grace
        self.sleep = sleep

    async def write(
        self,
        evidence_id: str,
        build: Callable[[Document], Change | Awaitable[Change]],
    ) -> tuple[Document, list[CustodyEntry]]:
        """Append ``build(doc)``'s entries, then apply its update; returns (doc, entries).

        ``build`` may raise to refuse (the error propagates); it is called again on a
        fresh document whenever another writer got in first.
        """
        mine: set[str] = set()  # hashes of entries this call appended (never orphans to us)
        for _attempt in range(MAX_ATTEMPTS):
            doc = await self.repo.get(evidence_id)
            if doc is None:
                raise Missing(evidence_id)
            built = build(doc)
            change = built if isinstance(built, Change) else await built
            if not change.entries:
                if change.update and not await self.repo.update(
                    {"_id": evidence_id, **change.require}, dict(change.update)
                ):
                    continue  # the document moved on; decide again
                return doc, []
            tail = await self._tail(evidence_id)
            head_seq = int((doc.get("custody_head") or {}).get("seq", 0))
            if tail is not None and tail.seq > head_seq and tail.entry_hash not in mine:
                if self.clock() - tail.at < self.orphan_grace:
                    # Another writer is between its two writes. Back off a little more
                    # each time (up to ~12 s in all): under load FerretDB can hold that
                    # writer for seconds, and a force's download should wait, not get a 409.
                    await self.sleep(min(0.05 * (1 + _attempt), 0.25))
                    continue
                log.warning(
                    "custody of %s: entries after seq %s were never applied; chaining after them",
                    evidence_id,
                    head_seq,
                )
            entries = self._chain(evidence_id, tail, change.entries)
            if not await self._insert_all(entries):
                continue  # someone took the slot: re-read, decide again
            mine.update(e.entry_hash for e in entries)
            last = entries[-1]
            update = merge_updates(
                {"$set": {"custody_head": {"seq": last.seq, "entry_hash": last.entry_hash}}},
                change.update,
            )
            try:
                applied = await self.repo.update({"_id": evidence_id, **change.require}, update)
            except Exception:
                await self._skip_past(evidence_id, last)
                raise
            if applied:
                return doc, entries
            await self._skip_past(evidence_id, last)
            raise NotApplied(
                f"evidence {evidence_id} changed meanwhile; entries {entries[0].seq}-"
                f"{last.seq} record an attempt that was not applied"
            )
        raise WriteConflict(f"evidence {evidence_id} kept changing while writing its log")

    async def _skip_past(self, evidence_id: str, last: CustodyEntry) -> None:
        """Our entries are in the log but their change is not: move the head past them at
        once, so the next writer need not wait ``orphan_grace`` to chain after them."""
        try:
            await self.repo.update(
                {"_id": evidence_id, "custody_head.seq": {"$lt": last.seq}},
                {"$set": {"custody_head": {"seq": last.seq, "entry_hash": last.entry_hash}}},
            )
        except Exception:
            log.warning("custody of %s: could not move the head past seq %s", evidence_id, last.seq)

    async def _tail(self, evidence_id: str) -> CustodyEntry | None:
        stored = await self.repo.last_custody_entry(evidence_id)
        return CustodyEntry.from_document(stored) if stored is not None else None

    def _chain(
        self, evidence_id: str, tail: CustodyEntry | None, specs: Sequence[EntrySpec]
    ) -> list[CustodyEntry]:
        log_so_far: list[CustodyEntry] = [tail] if tail is not None else []
        made: list[CustodyEntry] = []
        now = self.clock()
        for spec in specs:
            entry = custody.append(
                log_so_far,
                evidence_id=evidence_id,
                actor=spec.actor,
                action=spec.action,
                at=now,
                reason=spec.reason,
                details=spec.details,
            )
            made.append(entry)
            log_so_far = [entry]
        return made

    async def _insert_all(self, entries: Sequence[CustodyEntry]) -> bool:
        for position, entry in enumerate(entries):
            try:
                await self.repo.insert_custody(entry.to_document())
            except DuplicateKeyError:
                if position == 0:
                    return False
                # We held seq n+1, so nobody should write n+2...: only an adopter that
                # judged our first entries orphaned could. Leave the rest to it.
                log.error("custody of %s: seq %s taken after ours", entry.evidence_id, entry.seq)
                return False
        return True

    async def read(self, doc: Mapping[str, Any]) -> LogView:
        """The whole log of an item and the result of checking it."""
        evidence_id = str(doc["_id"])
        expected = head_of(doc)
        entries: list[CustodyEntry] = []
        for stored in await self.repo.custody_entries(evidence_id):
            try:
                entries.append(CustodyEntry.from_document(stored))
            except CustodyError as exc:
                seq = int(stored.get("seq", 0) or 0)
                problem = f"entry {seq} is malformed: {exc}"
                return LogView(entries, expected, custody.VerificationResult(False, seq, problem))
        return LogView(entries, expected, verify_with_head(entries, evidence_id, expected))


def verify_with_head(
    entries: Sequence[CustodyEntry], evidence_id: str, head: Head | None
) -> custody.VerificationResult:
    """The chain is intact and contains the recorded head unchanged. Entries after the
    head are allowed: a write in progress, or an attempt whose change was not applied."""
    result = custody.verify(entries, evidence_id=evidence_id)
    if not result.ok or head is None:
        return result
    if len(entries) < head.seq:
        return custody.VerificationResult(
            False,
            len(entries) + 1,
            f"log ends at seq {len(entries)} but the recorded head is seq {head.seq}:"
            " newest entries were removed",
        )
    if entries[head.seq - 1].entry_hash != head.entry_hash:
        return custody.VerificationResult(
            False, head.seq, f"entry {head.seq} is not the recorded head: the log was rewritten"
        )
    return result
