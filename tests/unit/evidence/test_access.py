"""Who sees which evidence, and when a reason is required."""

from __future__ import annotations

import pytest

from shopwatch.evidence.access import access_reason, can_see, can_see_report
from shopwatch.evidence.auth import ForceCaller, RetailerCaller
from shopwatch.evidence.domain import EvidenceError

SHOP = RetailerCaller("ret_1", "k1")
OTHER_SHOP = RetailerCaller("ret_2", "k2")
DURHAM = ForceCaller("durham", "t1")
CLEVELAND = ForceCaller("cleveland", "t2")
REPORT = {"_id": "rep_1", "retailer_id": "ret_1", "force": "durham"}


@pytest.mark.parametrize(
    ("caller", "status", "report", "visible"),
    [
        (SHOP, "initiated", REPORT, True),
        (SHOP, "rejected", REPORT, True),
        (OTHER_SHOP, "stored", REPORT, False),
        (DURHAM, "stored", REPORT, True),
        (DURHAM, "deleted", REPORT, True),
        (DURHAM, "verifying", REPORT, False),  # nothing unverified reaches a force
        (DURHAM, "rejected", REPORT, False),
        (CLEVELAND, "stored", REPORT, False),
        (DURHAM, "stored", {**REPORT, "force": None}, False),  # not routed yet
        (DURHAM, "stored", None, False),
    ],
)
def test_can_see(
    caller: object, status: str, report: dict[str, object] | None, visible: bool
) -> None:
    evidence = {
        "retailer_id": "ret_1",
        "status": status,
        "report_id": "rep_1",
        "shared_with": ["durham"],
    }
    assert can_see(caller, evidence, report) is visible  # type: ignore[arg-type]


def test_a_force_sees_nothing_before_the_logged_share() -> None:
    """The report names the force a moment before the share (and its continuity-log
    entry) is written; access waits for the share."""
    stored = {"retailer_id": "ret_1", "status": "stored", "report_id": "rep_1"}
    assert not can_see(DURHAM, stored, REPORT)
    assert not can_see(DURHAM, {**stored, "shared_with": ["cleveland"]}, REPORT)
    assert can_see(DURHAM, {**stored, "shared_with": ["durham"]}, REPORT)


def test_can_see_report() -> None:
    assert can_see_report(SHOP, REPORT)
    assert not can_see_report(OTHER_SHOP, REPORT)
    assert can_see_report(DURHAM, REPORT) and not can_see_report(CLEVELAND, REPORT)
    assert not can_see_report(SHOP, {"_id": "rep_1", "force": "durham"})  # stub: owner unknown
    assert not can_see_report(SHOP, None)


def test_police_must_give_a_reason_and_retailers_may() -> None:
    assert access_reason(SHOP, None) is None
    assert access_reason(SHOP, " checking ") == "checking"
    assert access_reason(DURHAM, "Investigating DUR/1") == "Investigating DUR/1"
    for missing in (None, "", "   "):
        with pytest.raises(EvidenceError) as refused:
            access_reason(DURHAM, missing)
        assert refused.value.field == "reason" and refused.value.code == "reason_required"
    with pytest.raises(EvidenceError) as bad:
        access_reason(DURHAM, "line\x00break")
    assert bad.value.field == "reason"
    with pytest.raises(EvidenceError):
        access_reason(DURHAM, "x" * 2001)
