"""The continuity log's storage rules, on an in-memory stand-in for MongoDB that, like
FerretDB, checks unique indexes atomically and nothing else."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from shopwatch.evidence.custody import Action, Actor, ActorKind, Head
from shopwatch.evidence.custody_store import (
    Change,
    CustodyStore,
    EntrySpec,
    Missing,
    NotApplied,
    initial_head,
    verify_with_head,
)

RETAILER = Actor(ActorKind.RETAILER, "ret_1/key_1")
FORCE = Actor(ActorKind.FORCE, "durham/tok")


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for key, wanted in query.items():
        value: Any = doc
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(wanted, dict) and "$ne" in wanted:
            if (isinstance(value, list) and wanted["$ne"] in value) or value == wanted["$ne"]:
                return False
        elif isinstance(wanted, dict) and "$lt" in wanted:
            if value is None or not value < wanted["$lt"]:
                return False
        elif value != wanted:
            return False
    return True


class FakeRepo:
    """Enough of MongoEvidence for CustodyStore: documents, updates, the custody index."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.entries: dict[tuple[str, int], dict[str, Any]] = {}
        self.yield_between = False

    async def get(self, evidence_id: str) -> dict[str, Any] | None:
        if self.yield_between:
            await asyncio.sleep(0)
        doc = self.docs.get(evidence_id)
        return copy.deepcopy(doc) if doc is not None else None

    async def update(self, query: dict[str, Any], update: dict[str, Any]) -> bool:
        if self.yield_between:
            await asyncio.sleep(0)
        doc = self.docs.get(query["_id"])
        if doc is None or not _matches(doc, {k: v for k, v in query.items() if k != "_id"}):
            return False
        for op, fields in update.items():
            for key, value in fields.items():
                if op == "$set":
                    doc[key] = copy.deepcopy(value)
                elif op == "$addToSet":
                    doc.setdefault(key, [])
                    if value not in doc[key]:
                        doc[key].append(value)
                elif op == "$unset":
                    doc.pop(key, None)
                else:  # pragma: no cover - not used by the store
                    raise NotImplementedError(op)
        return True

    async def last_custody_entry(self, evidence_id: str) -> dict[str, Any] | None:
        seqs = [s for (e, s) in self.entries if e == evidence_id]
        return copy.deepcopy(self.entries[(evidence_id, max(seqs))]) if seqs else None

    async def insert_custody(self, entry: dict[str, Any]) -> None:
        if self.yield_between:
            await asyncio.sleep(0)
        key = (entry["evidence_id"], int(entry["seq"]))
        if key in self.entries:
            raise DuplicateKeyError("E11000 duplicate key")
        self.entries[key] = copy.deepcopy(entry)

    async def custody_entries(self, evidence_id: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(v) for (e, _), v in sorted(self.entries.items()) if e == evidence_id]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def repo() -> FakeRepo:
    fake = FakeRepo()
    fake.docs["ev_1"] = {
        "_id": "ev_1",
        "status": "initiated",
        "custody_head": initial_head("ev_1"),
        "shared_with": [],
    }
    return fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store_for(repo: FakeRepo, clock: Clock) -> CustodyStore:
    async def no_sleep(_: float) -> None:
        clock.now += timedelta(seconds=1)

    return CustodyStore(repo, clock, sleep=no_sleep)  # type: ignore[arg-type]


async def test_a_change_and_its_entry_are_written_and_the_head_moves(
    repo: FakeRepo, clock: Clock
) -> None:
    store = store_for(repo, clock)
    _, entries = await store.write(
        "ev_1",
        lambda doc: Change(
            [EntrySpec(RETAILER, Action.UPLOADED, details={"size": 10})],
            {"$set": {"status": "uploaded"}},
            {"status": "initiated"},
        ),
    )
    assert [e.seq for e in entries] == [1]
    doc = repo.docs["ev_1"]
    assert doc["status"] == "uploaded"
    assert doc["custody_head"] == {"seq": 1, "entry_hash": entries[0].entry_hash}
    view = await store.read(doc)
    assert view.verification.ok and [e.action for e in view.entries] == [Action.UPLOADED]


async def test_build_refusing_propagates_and_writes_nothing(repo: FakeRepo, clock: Clock) -> None:
    def refuse(_: dict[str, Any]) -> Change:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store_for(repo, clock).write("ev_1", refuse)
    assert repo.entries == {}
    with pytest.raises(Missing):
        await store_for(repo, clock).write("ev_nope", lambda d: Change())


async def test_concurrent_writers_each_get_their_own_seq_and_the_chain_holds(
    repo: FakeRepo, clock: Clock
) -> None:
    repo.yield_between = True  # interleave every await, as concurrent requests would
    store = store_for(repo, clock)

    async def access(n: int) -> None:
        await store.write(
            "ev_1",
            lambda d: Change([EntrySpec(FORCE, Action.ACCESSED, f"reason {n}", {"n": n})]),
        )

    await asyncio.gather(*(access(n) for n in range(12)))
    view = await store.read(repo.docs["ev_1"])
    assert view.verification.ok
    assert sorted(e.details["n"] for e in view.entries) == list(range(12))  # type: ignore[type-var]
    assert [e.seq for e in view.entries] == list(range(1, 13))
    assert view.head == Head(12, view.entries[-1].entry_hash)


async def test_two_completes_race_and_only_one_applies(repo: FakeRepo, clock: Clock) -> None:
    repo.yield_between = True
    store = store_for(repo, clock)

    def complete(doc: dict[str, Any]) -> Change:
        if doc["status"] != "initiated":
            raise RuntimeError("already completed")
        return Change(
            [EntrySpec(RETAILER, Action.UPLOADED)],
            {"$set": {"status": "uploaded"}},
            {"status": "initiated"},
        )

    results = await asyncio.gather(
        store.write("ev_1", complete), store.write("ev_1", complete), return_exceptions=True
    )
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    view = await store.read(repo.docs["ev_1"])
    assert [e.action for e in view.entries] == [Action.UPLOADED]


async def test_an_unapplied_change_leaves_its_entry_and_moves_the_head_past_it(
    repo: FakeRepo, clock: Clock
) -> None:
    store = store_for(repo, clock)
    with pytest.raises(NotApplied):
        await store.write(
            "ev_1",
            lambda d: Change(
                [EntrySpec(RETAILER, Action.EXHIBIT_REF_CHANGED, details={"to": "AB/2"})],
                {"$set": {"exhibit_ref": "AB/2"}},
                {"status": "stored"},  # not met
            ),
        )
    assert repo.docs["ev_1"]["custody_head"]["seq"] == 1  # no wait for the next writer
    await store.write("ev_1", lambda d: Change([EntrySpec(FORCE, Action.ACCESSED, "why")]))
    view = await store.read(repo.docs["ev_1"])
    assert view.verification.ok and len(view.entries) == 2


async def test_a_dead_writers_entries_are_chained_after_once_the_grace_has_passed(
    repo: FakeRepo, clock: Clock
) -> None:
    store = store_for(repo, clock)
    # A writer appended entry 1 and died before applying its change.
    from shopwatch.evidence import custody

    orphan = custody.append(
        [], evidence_id="ev_1", actor=RETAILER, action=Action.UPLOADED, at=clock.now
    )
    await repo.insert_custody(orphan.to_document())
    waits_before = clock.now
    await store.write("ev_1", lambda d: Change([EntrySpec(FORCE, Action.ACCESSED, "why")]))
    assert clock.now - waits_before >= timedelta(seconds=30)  # waited out the grace
    view = await store.read(repo.docs["ev_1"])
    assert view.verification.ok and [e.seq for e in view.entries] == [1, 2]
    assert view.head is not None and view.head.seq == 2


def access_change(reason: str) -> Callable[[dict[str, Any]], Change]:
    return lambda _doc: Change([EntrySpec(FORCE, Action.ACCESSED, reason)])


async def test_tampering_and_truncation_are_detected(repo: FakeRepo, clock: Clock) -> None:
    store = store_for(repo, clock)
    for n in range(3):
        await store.write("ev_1", access_change(f"r{n}"))
    doc = repo.docs["ev_1"]
    assert (await store.read(doc)).verification.ok
    repo.entries[("ev_1", 2)]["reason"] = "something else"
    bad = (await store.read(doc)).verification
    assert (bad.ok, bad.first_bad_seq) == (False, 2)
    repo.entries[("ev_1", 2)]["reason"] = "r1"
    del repo.entries[("ev_1", 3)]
    cut = (await store.read(doc)).verification
    assert not cut.ok and "removed" in (cut.problem or "")
    repo.entries[("ev_1", 2)]["details"] = "not a mapping"
    assert not (await store.read(doc)).verification.ok


def test_entries_after_the_head_are_allowed_but_a_rewritten_head_is_not() -> None:
    from shopwatch.evidence import custody

    now = datetime(2026, 3, 1, tzinfo=UTC)
    log: list[custody.CustodyEntry] = []
    for n in range(3):
        log.append(
            custody.append(
                log, evidence_id="ev_1", actor=FORCE, action=Action.ACCESSED, at=now, reason=f"r{n}"
            )
        )
    assert verify_with_head(log, "ev_1", Head(2, log[1].entry_hash)).ok
    assert verify_with_head(log, "ev_1", None).ok
    wrong = verify_with_head(log, "ev_1", Head(2, "0" * 64))
    assert not wrong.ok and wrong.first_bad_seq == 2
