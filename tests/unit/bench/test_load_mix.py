"""The load generator's plan and report mix (bench/load/mix.py): stores spread over the
forces their postcodes route to, and reports that are valid, varied and in proportion."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.load.mix import (
    OFFENCE_WEIGHTS,
    OFFENDER_COUNT_WEIGHTS,
    ReportMix,
    Store,
    force_postcodes,
    plan_stores,
)
from shopwatch.schemas.postcodes import default_force_for_postcode
from shopwatch.schemas.report import Report

STORES = [Store(f"st_{n:016x}", chain=n % 3, force="durham") for n in range(12)]


def test_each_force_gets_a_postcode_that_routes_to_it() -> None:
    places = force_postcodes(10)
    assert len({force for force, _ in places}) == 10
    for force, postcode in places:
        assert default_force_for_postcode(postcode) == force


def test_every_chain_spans_forces_and_every_force_has_several_chains() -> None:
    plans = plan_stores(chains=4, stores_per_chain=6, forces=3)
    assert len(plans) == 24
    assert Counter(p.force for p in plans) == {f: 8 for f, _ in force_postcodes(3)}
    for chain in range(4):
        assert len({p.force for p in plans if p.chain == chain}) == 3
    for force, _ in force_postcodes(3):
        assert len({p.chain for p in plans if p.force == force}) == 4
    assert len({p.name for p in plans}) == 24


@pytest.mark.parametrize("bad", [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_an_empty_plan_is_refused(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_stores(*bad)


def test_too_many_forces_is_refused() -> None:
    with pytest.raises(ValueError, match="forces"):
        force_postcodes(500)


def test_reports_are_valid_and_follow_the_mix() -> None:
    mix = ReportMix(seed=5, evidence_share=0.1)
    n = 3000
    offences: Counter[str] = Counter()
    offender_counts: Counter[int] = Counter()
    evidence = 0
    described: Counter[str] = Counter()
    for i in range(n):
        body, with_evidence = mix.report(STORES[i % len(STORES)])
        report = Report.model_validate(body)  # what intake would accept
        assert report.store_id == STORES[i % len(STORES)].store_id
        offences[report.offence_type.value] += 1
        offender_counts[len(report.offenders)] += 1
        evidence += with_evidence
        if with_evidence:
            assert report.cctv_available
        if report.offence_type.value == "theft_from_shop":
            assert report.total_value_pence > 0
        for offender in report.offenders:
            described[offender.model_dump_json(include={"name", "vehicle_registration"})] += 1
    for offence, weight in OFFENCE_WEIGHTS.items():
        assert offences[offence.value] / n == pytest.approx(weight, abs=0.02), offence
    for count, weight in OFFENDER_COUNT_WEIGHTS.items():
        assert offender_counts[count] / n == pytest.approx(weight, abs=0.03), count
    assert evidence / n == pytest.approx(0.1, abs=0.02)
    # Repeat offenders: some named offenders turn up again (what matching links).
    named = {k: v for k, v in described.items() if '"name":null' not in k}
    assert max(named.values()) >= 3


def test_the_mix_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    def bodies(seed: int) -> list[dict[str, object]]:
        mix = ReportMix(seed=seed)
        out = []
        for store in STORES:
            body, _ = mix.report(store)
            body.pop("occurred_at")  # relative to the clock
            out.append(body)
        return out

    assert bodies(3) == bodies(3)
    assert bodies(3) != bodies(4)


def test_no_evidence_share_means_no_uploads_and_a_bad_share_is_refused() -> None:
    mix = ReportMix(seed=1, evidence_share=0.0)
    assert not any(mix.report(STORES[0])[1] for _ in range(500))
    with pytest.raises(ValueError, match="evidence_share"):
        ReportMix(evidence_share=1.5)
