"""Prolific flags (5 in 90 days, 3 stores, once per crossing) and the per-force view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shopwatch.matching.domain import Matcher, MatcherConfig, OffenderFeatures
from shopwatch.matching.prolific import (
    REASON_NEW_FORCE,
    RULE_REPORTS_IN_WINDOW,
    RULE_STORES,
    ProlificFlag,
    force_view,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PERSON = {
    "sex": "male",
    "age_min": 25,
    "age_max": 30,
    "name": "Daniel Smith",
    "vehicle_registration": "AB12CDE",
}


def feat(
    report: str, day: int, store: str = "gm-1", force: str = "greater-manchester"
) -> OffenderFeatures:
    kw: dict[str, Any] = dict(PERSON)
    return OffenderFeatures(
        report_id=report,
        offender_index=0,
        store_id=store,
        force=force,
        occurred_at=T0 + timedelta(days=day),
        **kw,
    )


def run(m: Matcher, *reports: OffenderFeatures) -> list[ProlificFlag]:
    flags: list[ProlificFlag] = []
    for f in reports:
        flags.extend(m.match([f])[0].flags)
    return flags


def test_five_reports_in_ninety_days_flags_once() -> None:
    m = Matcher()
    assert run(m, *(feat(f"R{i}", i * 10) for i in range(4))) == []
    flags = run(m, feat("R4", 40))
    assert len(flags) == 1 and flags[0].reasons == (RULE_REPORTS_IN_WINDOW,)
    assert flags[0].forces == ("greater-manchester",) and flags[0].report_count == 5
    assert run(m, feat("R5", 45), feat("R6", 50)) == []  # not re-flagged


def test_five_reports_spread_over_a_year_do_not_flag() -> None:
    m = Matcher()
    assert run(m, *(feat(f"R{i}", i * 40) for i in range(6))) == []


def test_ninety_day_rule_flags_again_after_a_quiet_spell() -> None:
    m = Matcher()
    assert len(run(m, *(feat(f"R{i}", i) for i in range(5)))) == 1
    assert run(m, feat("R5", 300)) == []  # below the rule again
    again = run(m, *(feat(f"S{i}", 301 + i) for i in range(4)))
    assert [f.reasons for f in again] == [(RULE_REPORTS_IN_WINDOW,)]


def test_three_stores_flag_every_force_touched() -> None:
    m = Matcher()
    flags = run(
        m,
        feat("R1", 0, "gm-1"),
        feat("R2", 100, "l-1", "lancashire"),
        feat("R3", 200, "gm-2"),
    )
    assert len(flags) == 1 and flags[0].reasons == (RULE_STORES,)
    assert set(flags[0].forces) == {"greater-manchester", "lancashire"}
    # Already prolific: a new force is told, the old ones are not told again.
    more = run(m, feat("R4", 210, "gm-3"), feat("R5", 220, "m-1", "merseyside"))
    assert [(f.reasons, f.forces) for f in more] == [((REASON_NEW_FORCE,), ("merseyside",))]


def test_force_view_hides_other_forces_details() -> None:
    m = Matcher(config=MatcherConfig())
    res = [
        m.match([f])[0]
        for f in (
            feat("R1", 0, "gm-1"),
            feat("R2", 5, "l-1", "lancashire"),
            feat("R3", 9, "l-2", "lancashire"),
        )
    ]
    profile = m.profile(res[0].profile_id or "")
    assert profile is not None and len(profile.report_ids) == 3
    view = force_view(profile, "greater-manchester").to_dict()
    assert [c["report_id"] for c in view["own_cases"]] == ["R1"]
    assert view["own_cases"][0]["store_id"] == "gm-1"
    assert view["other_forces"] == {"lancashire": ["R2", "R3"]}
    assert view["linked_cases_in_other_forces"] == 2
    text = str(view)
    assert "l-1" not in text and "l-2" not in text  # no store, date or detail of theirs
    assert "daniel" not in text.lower()  # no aggregated description either
