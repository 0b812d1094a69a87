"""The case status state machine: which status may follow which.

Routing owns each case's status. Its own moves are ``submitted -> routed`` and
``submitted -> unroutable -> routed``; every later move comes from the force's
updates (``ForceUpdate.kind``) and is checked here, so an impossible update
(anything after ``closed``, an acknowledgement after a crime was recorded, an outcome
before a crime was recorded) is refused with a clear reason instead of corrupting
the case.

The table is the single source of truth; ``can_transition`` and ``next_status`` only
read it.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from shopwatch.schemas.enums import UpdateKind


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"  # intake accepted the report; not yet routed
    UNROUTABLE = "unroutable"  # no force could be determined; visible to operators
    ROUTED = "routed"  # published to the force's cases topic
    ACKNOWLEDGED = "acknowledged"  # the force has received it
    CRIME_RECORDED = "crime_recorded"  # the force recorded a crime (crime reference)
    INVESTIGATING = "investigating"  # an officer is allocated
    EVIDENCE_REQUESTED = "evidence_requested"  # the force needs more from the retailer
    SUSPECT_IDENTIFIED = "suspect_identified"
    OUTCOME_RECORDED = "outcome_recorded"  # charged, cautioned, community resolution, NFA
    CLOSED = "closed"


_S = CaseStatus

TRANSITIONS: MappingProxyType[CaseStatus, frozenset[CaseStatus]] = MappingProxyType(
    {
        _S.SUBMITTED: frozenset({_S.ROUTED, _S.UNROUTABLE}),
        _S.UNROUTABLE: frozenset({_S.ROUTED}),
        # A force may skip the acknowledgement and record a crime straight away, or
        # close a report that is not a crime (duplicate, civil matter).
        _S.ROUTED: frozenset(
            {_S.ACKNOWLEDGED, _S.CRIME_RECORDED, _S.INVESTIGATING, _S.EVIDENCE_REQUESTED, _S.CLOSED}
        ),
        _S.ACKNOWLEDGED: frozenset(
            {_S.CRIME_RECORDED, _S.INVESTIGATING, _S.EVIDENCE_REQUESTED, _S.CLOSED}
        ),
        _S.CRIME_RECORDED: frozenset(
            {
                _S.INVESTIGATING,
                _S.EVIDENCE_REQUESTED,
                _S.SUSPECT_IDENTIFIED,
                _S.OUTCOME_RECORDED,
                _S.CLOSED,
            }
        ),
        # Re-allocation to another officer is a new "investigating".
        _S.INVESTIGATING: frozenset(
            {
                _S.INVESTIGATING,
                _S.CRIME_RECORDED,
                _S.EVIDENCE_REQUESTED,
                _S.SUSPECT_IDENTIFIED,
                _S.OUTCOME_RECORDED,
                _S.CLOSED,
            }
        ),
        # A force may ask for more than once, and record the crime once it has it.
        _S.EVIDENCE_REQUESTED: frozenset(
            {
                _S.EVIDENCE_REQUESTED,
                _S.CRIME_RECORDED,
                _S.INVESTIGATING,
                _S.SUSPECT_IDENTIFIED,
                _S.OUTCOME_RECORDED,
                _S.CLOSED,
            }
        ),
        _S.SUSPECT_IDENTIFIED: frozenset(
            {
                _S.SUSPECT_IDENTIFIED,
                _S.INVESTIGATING,
                _S.EVIDENCE_REQUESTED,
                _S.OUTCOME_RECORDED,
                _S.CLOSED,
            }
        ),
        # Several offenders can each get an outcome.
        _S.OUTCOME_RECORDED: frozenset({_S.OUTCOME_RECORDED, _S.CLOSED}),
        _S.CLOSED: frozenset(),
    }
)
"""status -> the statuses that may follow it."""

TERMINAL_STATUSES = frozenset(s for s, after in TRANSITIONS.items() if not after)

UPDATE_TARGETS: MappingProxyType[UpdateKind, CaseStatus | None] = MappingProxyType(
    {
        UpdateKind.ACKNOWLEDGED: _S.ACKNOWLEDGED,
        UpdateKind.CRIME_RECORDED: _S.CRIME_RECORDED,
        UpdateKind.OFFICER_ALLOCATED: _S.INVESTIGATING,
        UpdateKind.EVIDENCE_REQUESTED: _S.EVIDENCE_REQUESTED,
        UpdateKind.SUSPECT_IDENTIFIED: _S.SUSPECT_IDENTIFIED,
        UpdateKind.OUTCOME: _S.OUTCOME_RECORDED,
        UpdateKind.CLOSED: _S.CLOSED,
        # Decisions on offender links change no status.
        UpdateKind.LINK_CONFIRMED: None,
        UpdateKind.LINK_REJECTED: None,
    }
)
"""The status each kind of force update moves a case to (None: no status change)."""

# A link decision needs a case the force has (routed or later) and that is still open.
_LINK_DECISION_ALLOWED = frozenset(TRANSITIONS) - {_S.SUBMITTED, _S.UNROUTABLE, _S.CLOSED}


class InvalidTransitionError(ValueError):
    """An update that the case's current status does not allow."""

    def __init__(
        self, current: CaseStatus, target: CaseStatus | None, kind: UpdateKind | None = None
    ) -> None:
        self.current = current
        self.target = target
        self.kind = kind
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (the case is closed)"
        what = f"update {kind.value!r}" if kind is not None else "transition"
        goal = f"to {target.value!r}" if target is not None else "(no status change)"
        super().__init__(
            f"{what} not allowed: a case in status {current.value!r} cannot move {goal}; "
            f"allowed next: {allowed}"
        )


class HasUpdateKind(Protocol):
    @property
    def kind(self) -> UpdateKind: ...


def can_transition(current: CaseStatus, target: CaseStatus) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: CaseStatus, target: CaseStatus) -> None:
    """Raise ``InvalidTransitionError`` unless ``current -> target`` is allowed."""
    if not can_transition(current, target):
        raise InvalidTransitionError(current, target)


def next_status(current: CaseStatus, update: UpdateKind | HasUpdateKind) -> CaseStatus:
    """The status after applying a force update, or ``InvalidTransitionError``.

    Link decisions keep the status as it is (allowed while the case is open with the
    force). Accepts an ``UpdateKind`` or anything with a ``kind`` (a ``ForceUpdate``).
    """
    kind = update if isinstance(update, UpdateKind) else update.kind
    target = UPDATE_TARGETS[kind]
    if target is None:
        if current not in _LINK_DECISION_ALLOWED:
            raise InvalidTransitionError(current, None, kind)
        return current
    if not can_transition(current, target):
        raise InvalidTransitionError(current, target, kind)
    return target


def allowed_updates(current: CaseStatus) -> frozenset[UpdateKind]:
    """The kinds of force update the case accepts now (for UIs and error messages)."""
    result = set()
    for kind, target in UPDATE_TARGETS.items():
        if target is None:
            if current in _LINK_DECISION_ALLOWED:
                result.add(kind)
        elif can_transition(current, target):
            result.add(kind)
    return frozenset(result)
