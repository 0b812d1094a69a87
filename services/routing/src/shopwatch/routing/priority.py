"""Case priority, following the Retail Crime Action Plan (2023). Pure and table-driven.

The plan asks forces to prioritise attendance where staff faced violence, where staff
detained an offender, where evidence must be secured, and where the offender is prolific
or a juvenile. Each rule below is one line of that policy: the facts it looks at, the
priority it sets and the words a force reads. The case gets the most urgent priority of
the rules that apply and all their reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shopwatch.schemas.enums import OffenceType, Priority, PriorityReasonCode

HIGH_VALUE_PENCE = 100_000  # £1,000: organised theft, goods for resale


@dataclass(frozen=True)
class PriorityFacts:
    """What the rules look at, gathered from the report, its evidence and matching."""

    offence_type: OffenceType
    staff_injured: bool = False
    weapon_seen: bool = False
    offender_detained_by_staff: bool = False
    offender_juvenile: bool | None = None
    value_pence: int = 0
    evidence_count: int = 0
    cctv_available: bool = False
    offender_named: bool = False
    vehicle_identified: bool = False
    prolific_offender: bool = False


@dataclass(frozen=True)
class Rule:
    code: PriorityReasonCode
    priority: Priority
    applies: Callable[[PriorityFacts], bool]
    text: str


_VIOLENT = {OffenceType.VIOLENCE_AGAINST_STAFF, OffenceType.ROBBERY}

RULES: tuple[Rule, ...] = (
    Rule(
        PriorityReasonCode.VIOLENCE,
        Priority.IMMEDIATE,
        lambda f: f.offence_type in _VIOLENT,
        "Violence against staff: RCAP asks for attendance as a priority.",
    ),
    Rule(
        PriorityReasonCode.WEAPON_SEEN,
        Priority.IMMEDIATE,
        lambda f: f.weapon_seen,
        "A weapon was seen.",
    ),
    Rule(
        PriorityReasonCode.STAFF_INJURED,
        Priority.IMMEDIATE,
        lambda f: f.staff_injured,
        "A member of staff was injured.",
    ),
    Rule(
        PriorityReasonCode.OFFENDER_DETAINED,
        Priority.IMMEDIATE,
        lambda f: f.offender_detained_by_staff,
        "Staff have detained the offender: attend.",
    ),
    Rule(
        PriorityReasonCode.THREATS_TO_STAFF,
        Priority.HIGH,
        lambda f: f.offence_type == OffenceType.THREATS_OR_ABUSE_AGAINST_STAFF,
        "Threats or abuse against staff.",
    ),
    Rule(
        PriorityReasonCode.PROLIFIC_OFFENDER,
        Priority.HIGH,
        lambda f: f.prolific_offender,
        "Linked to a prolific offender.",
    ),
    Rule(
        PriorityReasonCode.HIGH_VALUE,
        Priority.HIGH,
        lambda f: f.value_pence >= HIGH_VALUE_PENCE,
        "High value of goods taken.",
    ),
    Rule(
        PriorityReasonCode.JUVENILE_OFFENDER,
        Priority.STANDARD,
        lambda f: f.offender_juvenile is True,
        "Offender believed to be a juvenile: safeguarding and youth justice apply.",
    ),
    Rule(
        PriorityReasonCode.EVIDENCE_AVAILABLE,
        Priority.STANDARD,
        lambda f: f.evidence_count > 0 or f.cctv_available,
        "CCTV is available: secure it.",
    ),
    Rule(
        PriorityReasonCode.OFFENDER_NAMED,
        Priority.STANDARD,
        lambda f: f.offender_named,
        "The offender is named or has a known alias.",
    ),
    Rule(
        PriorityReasonCode.VEHICLE_IDENTIFIED,
        Priority.STANDARD,
        lambda f: f.vehicle_identified,
        "A vehicle registration was recorded.",
    ),
)

_NO_LINE_OF_ENQUIRY = (
    PriorityReasonCode.STANDARD,
    Priority.LOW,
    "No violence, no identification and no evidence yet: recorded for intelligence.",
)


@dataclass(frozen=True)
class PriorityDecision:
    priority: Priority
    reasons: tuple[tuple[PriorityReasonCode, str], ...]


def prioritise(facts: PriorityFacts, rules: tuple[Rule, ...] = RULES) -> PriorityDecision:
    applied = [rule for rule in rules if rule.applies(facts)]
    if not applied:
        code, priority, text = _NO_LINE_OF_ENQUIRY
        return PriorityDecision(priority, ((code, text),))
    most_urgent = min((rule.priority for rule in applied), key=lambda p: p.rank)
    return PriorityDecision(most_urgent, tuple((rule.code, rule.text) for rule in applied))
