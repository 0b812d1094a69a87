from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwatch.evidence.custody import (
    Action,
    Actor,
    ActorKind,
    CustodyEntry,
    CustodyError,
    Head,
    ReasonRequired,
    append,
    genesis_hash,
    head,
    verify,
)

T0 = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
RETAILER = Actor(ActorKind.RETAILER, "tesco")
SYSTEM = Actor(ActorKind.SYSTEM, "evidence-verifier")
FORCE = Actor(ActorKind.FORCE, "durham/PC1234")
EV = "ev_01"


def build(
    steps: list[tuple[Actor, Action, str | None]], evidence_id: str = EV
) -> list[CustodyEntry]:
    log: list[CustodyEntry] = []
    for i, (actor, action, reason) in enumerate(steps):
        log.append(
            append(
                log,
                evidence_id=evidence_id,
                actor=actor,
                action=action,
                at=T0 + timedelta(minutes=i),
                reason=reason,
                details={"step": i},
            )
        )
    return log


STORY: list[tuple[Actor, Action, str | None]] = [
    (RETAILER, Action.UPLOADED, None),
    (SYSTEM, Action.VERIFIED, None),
    (SYSTEM, Action.DERIVED, None),
    (SYSTEM, Action.SHARED_WITH_FORCE, None),
    (FORCE, Action.ACCESSED, "reviewing CAD 1234 for charging decision"),
    (FORCE, Action.DOWNLOADED, "disclosure to CPS"),
    (RETAILER, Action.EXHIBIT_REF_CHANGED, None),
]


def test_append_and_verify() -> None:
    log = build(STORY)
    assert [e.seq for e in log] == list(range(1, len(STORY) + 1))
    assert log[0].prev_hash == genesis_hash(EV)
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(log))
    result = verify(log, evidence_id=EV, expected_head=head(log))
    assert result.ok and result.first_bad_seq is None and result.problem is None


def test_empty_log_verifies() -> None:
    assert verify([]).ok
    assert not verify([], expected_head=Head(1, "x")).ok


def test_entries_are_immutable_and_append_does_not_mutate() -> None:
    log = build(STORY[:2])
    before = list(log)
    append(log, evidence_id=EV, actor=SYSTEM, action=Action.DERIVED, at=T0)
    assert log == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        log[0].seq = 5  # type: ignore[misc]


@pytest.mark.parametrize("action", [Action.ACCESSED, Action.DOWNLOADED])
@pytest.mark.parametrize("reason", [None, "", "   "])
def test_police_access_without_a_reason_is_refused(action: Action, reason: str | None) -> None:
    log = build(STORY[:4])
    with pytest.raises(ReasonRequired, match="reason is required") as info:
        append(log, evidence_id=EV, actor=FORCE, action=action, at=T0, reason=reason)
    assert info.value.field == "reason"


def test_retailer_access_needs_no_reason_but_deletion_does() -> None:
    log = build(STORY[:1])
    entry = append(log, evidence_id=EV, actor=RETAILER, action=Action.ACCESSED, at=T0)
    assert entry.reason is None
    with pytest.raises(ReasonRequired):
        append(log, evidence_id=EV, actor=SYSTEM, action=Action.DELETED, at=T0)
    deleted = append(
        log, evidence_id=EV, actor=SYSTEM, action=Action.DELETED, at=T0, reason="retention expired"
    )
    assert deleted.reason == "retention expired"


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(CustodyError, match="timezone"):
        append([], evidence_id=EV, actor=RETAILER, action=Action.UPLOADED, at=datetime(2026, 1, 1))
    with pytest.raises(CustodyError, match="NaN"):
        append(
            [],
            evidence_id=EV,
            actor=RETAILER,
            action=Action.UPLOADED,
            at=T0,
            details={"x": float("nan")},
        )
    with pytest.raises(CustodyError, match="not JSON"):
        append(
            [],
            evidence_id=EV,
            actor=RETAILER,
            action=Action.UPLOADED,
            at=T0,
            details={"x": object()},
        )
    with pytest.raises(CustodyError, match="control"):
        append(
            build(STORY[:4]),
            evidence_id=EV,
            actor=FORCE,
            action=Action.ACCESSED,
            at=T0,
            reason="a\x00b",
        )
    with pytest.raises(CustodyError, match="another evidence"):
        append(build(STORY[:1]), evidence_id="ev_02", actor=SYSTEM, action=Action.VERIFIED, at=T0)
    with pytest.raises(CustodyError, match="actor id"):
        Actor(ActorKind.FORCE, " ")


def test_timestamps_are_utc_milliseconds() -> None:
    local = datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    entry = append([], evidence_id=EV, actor=RETAILER, action=Action.UPLOADED, at=local)
    assert entry.at == datetime(2026, 6, 1, 9, 0, 0, 123000, tzinfo=UTC)
    assert entry.to_document()["at"] == "2026-06-01T09:00:00.123Z"


def test_storage_round_trip_verifies() -> None:
    log = build(STORY)
    stored = [json.loads(json.dumps(e.to_document())) for e in log]
    back = [CustodyEntry.from_document(d) for d in stored]
    assert verify(back, evidence_id=EV, expected_head=head(log)).ok


def test_mongo_style_round_trip_with_naive_datetimes_and_tuples() -> None:
    log = [
        append(
            [],
            evidence_id=EV,
            actor=RETAILER,
            action=Action.UPLOADED,
            at=T0,
            details={"parts": (1, 2)},
        )
    ]
    doc: dict[str, Any] = log[0].to_document()
    doc["at"] = log[0].at.replace(tzinfo=None)  # PyMongo hands back naive UTC datetimes
    doc["details"] = {"parts": [1, 2]}  # BSON has no tuples
    assert verify([CustodyEntry.from_document(doc)]).ok


def test_malformed_document() -> None:
    with pytest.raises(CustodyError, match="malformed"):
        CustodyEntry.from_document({"seq": 1})


# ---------------------------------------------------------------------------
# tampering


def _docs(log: list[CustodyEntry]) -> list[dict[str, Any]]:
    return [e.to_document() for e in log]


def _entries(docs: list[dict[str, Any]]) -> list[CustodyEntry]:
    return [CustodyEntry.from_document(d) for d in docs]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reason", "just curious"),
        ("action", "verified"),
        ("at", "2026-11-29T09:35:00.000Z"),
        ("details", {"step": 99}),
        ("actor", {"kind": "retailer", "id": "tesco"}),
        ("evidence_id", "ev_02"),
    ],
)
def test_an_edited_entry_is_detected(field: str, value: Any) -> None:
    docs = _docs(build(STORY))
    docs[4][field] = value  # the police access entry, seq 5
    result = verify(_entries(docs), evidence_id=EV)
    assert not result.ok
    assert result.first_bad_seq == 5
    assert result.problem


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    log = build(STORY)
    forged = dataclasses.replace(log[2], details={"step": "forged"})
    forged = dataclasses.replace(forged, entry_hash=forged.compute_hash())
    log[2] = forged
    result = verify(log)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "does not chain" in (result.problem or "")


def test_a_removed_entry_is_detected() -> None:
    log = build(STORY)
    del log[3]
    result = verify(log)
    assert (result.ok, result.first_bad_seq) == (False, 4)
    assert "removed" in (result.problem or "")


def test_a_removed_first_entry_is_detected() -> None:
    result = verify(build(STORY)[1:], evidence_id=EV)
    assert (result.ok, result.first_bad_seq) == (False, 1)


def test_removed_newest_entries_need_the_recorded_head() -> None:
    log = build(STORY)
    recorded = head(log)
    truncated = log[:-2]
    assert verify(truncated).ok  # a chain cannot know what came after it...
    result = verify(truncated, expected_head=recorded)  # ...the stored head can
    assert (result.ok, result.first_bad_seq) == (False, 6)
    assert "newest entries were removed" in (result.problem or "")


def test_a_swapped_pair_is_detected() -> None:
    log = build(STORY)
    log[2], log[3] = log[3], log[2]
    result = verify(log)
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_a_renumbered_reorder_is_detected() -> None:
    docs = _docs(build(STORY))
    docs[2], docs[3] = docs[3], docs[2]
    docs[2]["seq"], docs[3]["seq"] = 3, 4
    result = verify(_entries(docs))
    assert (result.ok, result.first_bad_seq) == (False, 3)


def test_an_inserted_entry_is_detected() -> None:
    log = build(STORY)
    # A well-formed entry chained onto entry 3, slipped in before the real entry 4.
    intruder = append(log[:3], evidence_id=EV, actor=RETAILER, action=Action.ACCESSED, at=T0)
    tampered = [*log[:3], intruder, *log[3:]]
    result = verify(tampered)
    assert (result.ok, result.first_bad_seq) == (False, 5)


def test_a_log_from_another_exhibit_does_not_verify_as_this_one() -> None:
    other = build(STORY, evidence_id="ev_02")
    assert verify(other).ok
    result = verify(other, evidence_id=EV)
    assert (result.ok, result.first_bad_seq) == (False, 1)


# ---------------------------------------------------------------------------
# property: any single tampering is found, at the position where it was made

_REASONS = st.text(st.characters(categories=["L", "N", "P", "Zs"]), min_size=1, max_size=20).filter(
    str.strip
)
_ACTORS = st.sampled_from([RETAILER, SYSTEM, FORCE])
_STEP = st.tuples(_ACTORS, st.sampled_from(list(Action)), _REASONS)


@st.composite
def chains(draw: st.DrawFn) -> list[CustodyEntry]:
    steps = draw(st.lists(_STEP, min_size=2, max_size=12))
    return build([(a, act, r) for a, act, r in steps])


@settings(max_examples=150, deadline=None)
@given(chains(), st.data())
def test_any_tampering_is_detected(log: list[CustodyEntry], data: st.DataObject) -> None:
    assert verify(log, expected_head=head(log)).ok
    recorded = head(log)
    kind = data.draw(st.sampled_from(["edit", "remove", "swap", "insert", "duplicate"]))
    i = data.draw(st.integers(min_value=0, max_value=len(log) - 1))
    tampered = list(log)
    if kind == "edit":
        tampered[i] = dataclasses.replace(log[i], reason=(log[i].reason or "") + "!")
        earliest = i + 1
    elif kind == "remove":
        del tampered[i]
        earliest = i + 1
    elif kind == "swap":
        j = data.draw(st.integers(min_value=0, max_value=len(log) - 1).filter(lambda j: j != i))
        tampered[i], tampered[j] = tampered[j], tampered[i]
        earliest = min(i, j) + 1
    elif kind == "insert":
        extra = append(log[:i], evidence_id=EV, actor=RETAILER, action=Action.ACCESSED, at=T0)
        tampered.insert(i, extra)
        earliest = i + 2  # the intruder itself chains; the displaced entry does not
    else:
        tampered.insert(i, log[i])
        earliest = i + 2
    result = verify(tampered, evidence_id=EV, expected_head=recorded)
    assert not result.ok
    assert result.first_bad_seq == earliest
    assert result.problem
