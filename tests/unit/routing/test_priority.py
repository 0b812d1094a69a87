"""The priority table: every rule, alone and combined."""

import pytest

from shopwatch.routing.priority import RULES, PriorityFacts, prioritise
from shopwatch.schemas.enums import OffenceType, Priority, PriorityReasonCode

THEFT = OffenceType.THEFT_FROM_SHOP
R = PriorityReasonCode

CASES = [
    # facts, expected priority, expected reason codes (in rule order)
    (PriorityFacts(THEFT), Priority.LOW, [R.STANDARD]),
    (PriorityFacts(OffenceType.VIOLENCE_AGAINST_STAFF), Priority.IMMEDIATE, [R.VIOLENCE]),
    (PriorityFacts(OffenceType.ROBBERY), Priority.IMMEDIATE, [R.VIOLENCE]),
    (PriorityFacts(THEFT, weapon_seen=True), Priority.IMMEDIATE, [R.WEAPON_SEEN]),
    (PriorityFacts(THEFT, staff_injured=True), Priority.IMMEDIATE, [R.STAFF_INJURED]),
    (
        PriorityFacts(THEFT, offender_detained_by_staff=True),
        Priority.IMMEDIATE,
        [R.OFFENDER_DETAINED],
    ),
    (
        PriorityFacts(OffenceType.THREATS_OR_ABUSE_AGAINST_STAFF),
        Priority.HIGH,
        [R.THREATS_TO_STAFF],
    ),
    (PriorityFacts(THEFT, prolific_offender=True), Priority.HIGH, [R.PROLIFIC_OFFENDER]),
    (PriorityFacts(THEFT, value_pence=100_000), Priority.HIGH, [R.HIGH_VALUE]),
    (PriorityFacts(THEFT, value_pence=99_999), Priority.LOW, [R.STANDARD]),
    (PriorityFacts(THEFT, offender_juvenile=True), Priority.STANDARD, [R.JUVENILE_OFFENDER]),
    (PriorityFacts(THEFT, offender_juvenile=False), Priority.LOW, [R.STANDARD]),
    (PriorityFacts(THEFT, evidence_count=1), Priority.STANDARD, [R.EVIDENCE_AVAILABLE]),
    (PriorityFacts(THEFT, cctv_available=True), Priority.STANDARD, [R.EVIDENCE_AVAILABLE]),
    (PriorityFacts(THEFT, offender_named=True), Priority.STANDARD, [R.OFFENDER_NAMED]),
    (PriorityFacts(THEFT, vehicle_identified=True), Priority.STANDARD, [R.VEHICLE_IDENTIFIED]),
    (
        PriorityFacts(
            OffenceType.VIOLENCE_AGAINST_STAFF,
            staff_injured=True,
            prolific_offender=True,
            evidence_count=2,
        ),
        Priority.IMMEDIATE,
        [R.VIOLENCE, R.STAFF_INJURED, R.PROLIFIC_OFFENDER, R.EVIDENCE_AVAILABLE],
    ),
    (
        PriorityFacts(THEFT, prolific_offender=True, offender_juvenile=True),
        Priority.HIGH,
        [R.PROLIFIC_OFFENDER, R.JUVENILE_OFFENDER],
    ),
]


@pytest.mark.parametrize(("facts", "priority", "codes"), CASES)
def test_priority_table(facts: PriorityFacts, priority: Priority, codes: list[R]) -> None:
    decision = prioritise(facts)
    assert decision.priority == priority
    assert [code for code, _ in decision.reasons] == codes
    assert all(text for _, text in decision.reasons)


def test_every_rule_is_exercised_by_the_table() -> None:
    seen = {code for _, _, codes in CASES for code in codes}
    assert {rule.code for rule in RULES} <= seen
