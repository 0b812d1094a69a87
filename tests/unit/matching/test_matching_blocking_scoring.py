"""Blocking (the right candidates, bounded) and scoring (direction, explanations)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shopwatch.matching.blocking import FORCE_NEIGHBOURS, force_area, profile_keys, query_keys
from shopwatch.matching.domain import OffenderFeatures
from shopwatch.matching.index import BlockingIndex
from shopwatch.matching.normalise import normalise_offender
from shopwatch.matching.profiles import Member, Profile
from shopwatch.matching.scoring import score

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def feat(report: str = "R1", index: int = 0, **kw: Any) -> OffenderFeatures:
    base: dict[str, Any] = {
        "report_id": report,
        "offender_index": index,
        "store_id": "gm-001",
        "force": "greater-manchester",
        "occurred_at": T0,
    }
    base.update(kw)
    return OffenderFeatures(**base)


def profile_from(*features: OffenderFeatures, pid: str = "P1") -> Profile:
    p = Profile(pid)
    for f in features:
        off = normalise_offender(f)
        p.add(off, Member(f.report_id, f.offender_index, f.store_id, f.force, off.day))
    return p


DESC: dict[str, Any] = {
    "sex": "male",
    "age_min": 25,
    "age_max": 30,
    "height_min_cm": 175,
    "height_max_cm": 185,
    "build": "slim",
    "hair": "short brown",
    "name": "Daniel Smith",
    "vehicle_registration": "AB12 CDE",
    "distinguishing_features": "tattoo of a rose on left hand",
    "clothing": "grey hoodie, black joggers",
    "method": "concealment in bag",
}


def test_neighbours_are_symmetric_and_include_the_force() -> None:
    for force, neighbours in FORCE_NEIGHBOURS.items():
        assert force not in neighbours
        for n in neighbours:
            assert force in FORCE_NEIGHBOURS[n]
    assert "lancashire" in force_area("greater-manchester")
    assert "greater-manchester" in force_area("greater-manchester")
    assert force_area("btp") == {"btp"}


def _index_with(*profiles: Profile) -> BlockingIndex:
    index = BlockingIndex()
    for pid, p in enumerate(profiles):
        index.add(pid, profile_keys(p))
    return index


def test_true_candidate_is_found_with_reasons() -> None:
    true = profile_from(feat("R0", **DESC))
    other = profile_from(
        feat("R9", sex="male", age_min=50, age_max=60, force="kent", store_id="k-1"), pid="P2"
    )
    index = _index_with(true, other)
    # A later, sparser description in a neighbouring force: misspelt name, partial plate.
    later = normalise_offender(
        feat(
            "R1",
            force="lancashire",
            store_id="l-9",
            name="Danny Smyth",
            vehicle_registration="AB12",
        )
    )
    found = index.candidates(query_keys(later))
    assert found and found[0].pid == 0
    assert {"name", "phonetic", "vrm_part"} <= set(found[0].reasons)
    assert all(c.pid != 1 for c in found)


def test_incompatible_sex_is_not_blocked_together_by_area() -> None:
    woman = profile_from(feat("R0", sex="female", age_min=25, age_max=30, build="slim"))
    index = _index_with(woman)
    man = normalise_offender(
        feat("R1", sex="male", age_min=25, age_max=30, build="slim", store_id="x")
    )
    assert index.candidates(query_keys(man)) == []


def test_candidate_cap_is_respected() -> None:
    index = BlockingIndex()
    keys = profile_keys(profile_from(feat("R0", **DESC)))
    for pid in range(1000):
        index.add(pid, keys)
    off = normalise_offender(feat("R1", **DESC))
    found = index.candidates(query_keys(off), cap=50)
    assert len(found) == 50
    assert found[0].pid == 999  # ties: the most recent first
    assert index.candidates(query_keys(off), cap=50, exclude={999})[0].pid == 998


def _score(new: dict[str, Any], old: dict[str, Any] | None = None, **kw: Any) -> float:
    p = profile_from(feat("R0", **(old or DESC)))
    f = feat("R1", occurred_at=T0 + timedelta(days=3), **{**(old or DESC), **new})
    return score(normalise_offender(f), p, **kw).total


BASE: dict[str, Any] = {k: None for k in DESC} | {"sex": "male", "age_min": 25, "age_max": 30}


@pytest.mark.parametrize(
    ("field", "same", "different"),
    [
        ("name", "Daniel Smith", "Peter Jones"),
        ("vehicle_registration", "AB12CDE", "XY65ZZZ"),
        ("distinguishing_features", "rose tattoo on left hand", "scar on right leg"),
        ("build", "slim", "heavy"),
        ("hair", "short brown", "long blonde"),
        ("method", "concealment in bag", "grab and run"),
        ("clothing", "grey hoodie", "red coat"),
    ],
)
def test_each_feature_moves_the_score_the_right_way(field: str, same: str, different: str) -> None:
    old = {**BASE, field: same}
    missing = _score({field: None}, old)
    agree = _score({field: same}, old)
    disagree = _score({field: different}, old)
    assert agree > missing >= disagree


def test_ranges_and_sex() -> None:
    old = dict(BASE) | {"height_min_cm": 175, "height_max_cm": 180}
    assert _score({}, old) > _score({"age_min": 40, "age_max": 45}, old)
    assert _score({"age_min": 40, "age_max": 45}, old) > _score({"age_min": 60, "age_max": 70}, old)
    assert _score({}, old) > _score({"height_min_cm": 195, "height_max_cm": 200}, old)
    assert _score({"sex": "female"}, old) < _score({"sex": None}, old) - 8


def test_same_store_recently_counts() -> None:
    old = dict(BASE)
    assert _score({}, old) > _score({"store_id": "gm-999"}, old)


def test_explanations_name_every_feature() -> None:
    p = profile_from(feat("R0", **DESC))
    s = score(normalise_offender(feat("R1", **DESC)), p)
    names = {c.feature for c in s.contributions}
    assert {"name", "vehicle", "marks", "sex", "age", "height", "build", "hair", "store"} <= names
    assert all(c.detail for c in s.contributions)
    assert s.total == pytest.approx(sum(c.weight for c in s.contributions))
    assert s.matched_features


def test_ethnicity_cannot_be_passed() -> None:
    fields = {f.name for f in dataclasses.fields(OffenderFeatures)}
    assert not any("ethnic" in f or f.startswith("ic") for f in fields)
    with pytest.raises(TypeError):
        feat(ic_code="IC1")
