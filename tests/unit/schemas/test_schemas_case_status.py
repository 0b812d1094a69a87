"""The case status state machine, checked against an explicit table."""

from __future__ import annotations

import itertools

import pytest

from shopwatch.schemas.case_status import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    UPDATE_TARGETS,
    CaseStatus,
    InvalidTransitionError,
    allowed_updates,
    can_transition,
    check_transition,
    next_status,
)
from shopwatch.schemas.enums import UpdateKind
from shopwatch.schemas.events import ForceUpdate
from shopwatch.schemas.examples import example_event

S = CaseStatus
U = UpdateKind

# The expected table, written out independently of the implementation's.
EXPECTED = {
    S.SUBMITTED: {S.ROUTED, S.UNROUTABLE},
    S.UNROUTABLE: {S.ROUTED},
    S.ROUTED: {S.ACKNOWLEDGED, S.CRIME_RECORDED, S.INVESTIGATING, S.EVIDENCE_REQUESTED, S.CLOSED},
    S.ACKNOWLEDGED: {S.CRIME_RECORDED, S.INVESTIGATING, S.EVIDENCE_REQUESTED, S.CLOSED},
    S.CRIME_RECORDED: {
        S.INVESTIGATING,
        S.EVIDENCE_REQUESTED,
        S.SUSPECT_IDENTIFIED,
        S.OUTCOME_RECORDED,
        S.CLOSED,
    },
    S.INVESTIGATING: {
        S.INVESTIGATING,
        S.CRIME_RECORDED,
        S.EVIDENCE_REQUESTED,
        S.SUSPECT_IDENTIFIED,
        S.OUTCOME_RECORDED,
        S.CLOSED,
    },
    S.EVIDENCE_REQUESTED: {
        S.EVIDENCE_REQUESTED,
        S.CRIME_RECORDED,
        S.INVESTIGATING,
        S.SUSPECT_IDENTIFIED,
        S.OUTCOME_RECORDED,
        S.CLOSED,
    },
    S.SUSPECT_IDENTIFIED: {
        S.SUSPECT_IDENTIFIED,
        S.INVESTIGATING,
        S.EVIDENCE_REQUESTED,
        S.OUTCOME_RECORDED,
        S.CLOSED,
    },
    S.OUTCOME_RECORDED: {S.OUTCOME_RECORDED, S.CLOSED},
    S.CLOSED: set(),
}


def test_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(CaseStatus)
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED
    assert {S.CLOSED} == TERMINAL_STATUSES


@pytest.mark.parametrize(("current", "target"), list(itertools.product(CaseStatus, CaseStatus)))
def test_every_pair(current: CaseStatus, target: CaseStatus) -> None:
    allowed = target in EXPECTED[current]
    assert can_transition(current, target) is allowed
    if allowed:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransitionError) as info:
            check_transition(current, target)
        assert repr(current.value) in str(info.value)
        assert repr(target.value) in str(info.value)


def test_every_status_is_reachable_from_submitted_and_can_reach_closed() -> None:
    reachable = {S.SUBMITTED}
    frontier = [S.SUBMITTED]
    while frontier:
        for after in TRANSITIONS[frontier.pop()]:
            if after not in reachable:
                reachable.add(after)
                frontier.append(after)
    assert reachable == set(CaseStatus)
    for status in CaseStatus:
        if status in (S.SUBMITTED, S.UNROUTABLE):
            continue  # routing's own states: closed only after routing
        seen: set[CaseStatus] = {status}
        stack: list[CaseStatus] = [status]
        while stack:
            for after in TRANSITIONS[stack.pop()]:
                if after not in seen:
                    seen.add(after)
                    stack.append(after)
        assert S.CLOSED in seen or status is S.CLOSED


def test_every_update_kind_has_a_target() -> None:
    assert set(UPDATE_TARGETS) == set(UpdateKind)


@pytest.mark.parametrize(
    ("current", "kind", "expected"),
    [
        (S.ROUTED, U.ACKNOWLEDGED, S.ACKNOWLEDGED),
        (S.ROUTED, U.CRIME_RECORDED, S.CRIME_RECORDED),
        (S.ACKNOWLEDGED, U.OFFICER_ALLOCATED, S.INVESTIGATING),
        (S.INVESTIGATING, U.OFFICER_ALLOCATED, S.INVESTIGATING),
        (S.CRIME_RECORDED, U.EVIDENCE_REQUESTED, S.EVIDENCE_REQUESTED),
        (S.EVIDENCE_REQUESTED, U.CRIME_RECORDED, S.CRIME_RECORDED),
        (S.INVESTIGATING, U.SUSPECT_IDENTIFIED, S.SUSPECT_IDENTIFIED),
        (S.SUSPECT_IDENTIFIED, U.OUTCOME, S.OUTCOME_RECORDED),
        (S.OUTCOME_RECORDED, U.OUTCOME, S.OUTCOME_RECORDED),
        (S.OUTCOME_RECORDED, U.CLOSED, S.CLOSED),
        (S.ROUTED, U.CLOSED, S.CLOSED),
        (S.CRIME_RECORDED, U.LINK_CONFIRMED, S.CRIME_RECORDED),
        (S.ROUTED, U.LINK_REJECTED, S.ROUTED),
    ],
)
def test_next_status_allowed(current: CaseStatus, kind: UpdateKind, expected: CaseStatus) -> None:
    assert next_status(current, kind) is expected
    assert kind in allowed_updates(current)


@pytest.mark.parametrize(
    ("current", "kind"),
    [
        (S.CLOSED, U.ACKNOWLEDGED),
        (S.CLOSED, U.OUTCOME),
        (S.CLOSED, U.LINK_CONFIRMED),
        (S.CRIME_RECORDED, U.ACKNOWLEDGED),
        (S.ROUTED, U.OUTCOME),
        (S.ACKNOWLEDGED, U.SUSPECT_IDENTIFIED),
        (S.ACKNOWLEDGED, U.ACKNOWLEDGED),
        (S.SUBMITTED, U.ACKNOWLEDGED),
        (S.UNROUTABLE, U.CRIME_RECORDED),
        (S.SUBMITTED, U.LINK_CONFIRMED),
        (S.OUTCOME_RECORDED, U.EVIDENCE_REQUESTED),
    ],
)
def test_next_status_refused(current: CaseStatus, kind: UpdateKind) -> None:
    with pytest.raises(InvalidTransitionError) as info:
        next_status(current, kind)
    error = info.value
    assert error.current is current and error.kind is kind
    assert f"update {kind.value!r} not allowed" in str(error)
    assert kind not in allowed_updates(current)


def test_closed_error_says_the_case_is_closed() -> None:
    with pytest.raises(InvalidTransitionError, match=r"none \(the case is closed\)"):
        next_status(S.CLOSED, U.CLOSED)


def test_next_status_accepts_a_force_update() -> None:
    update = example_event(ForceUpdate)
    assert next_status(S.ACKNOWLEDGED, update) is S.CRIME_RECORDED


def test_a_force_cannot_skip_routing() -> None:
    assert allowed_updates(S.SUBMITTED) == frozenset()
    assert allowed_updates(S.CLOSED) == frozenset()
