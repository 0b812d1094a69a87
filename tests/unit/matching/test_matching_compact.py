"""The packed profile table and the numpy candidate ranking change nothing the matcher says.

Each representation is compared with the one it replaced: ``ProfileTable(pack=False)``
(every profile a ``Profile`` object, as before) and a copy of the former set/Counter
ranking of candidates.
"""

from __future__ import annotations

import heapq
import importlib.util
import json
import random
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shopwatch.matching.blocking import KIND_WEIGHTS, Key
from shopwatch.matching.compact import ProfileTable
from shopwatch.matching.domain import Decision, Matcher
from shopwatch.matching.evaluation import offenders_of
from shopwatch.matching.index import KIND_POSTINGS_SHARE, BlockingIndex, Candidate
from shopwatch.matching.normalise import Mark, normalise_offender
from shopwatch.matching.profiles import Member, Profile, RangeStats

GENERATOR = Path(__file__).resolve().parents[3] / "bench" / "matching" / "generate.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("matching_generate", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return list(_generator().generate(people=60, reports=450, seed=5))


def _matcher(table: ProfileTable, profiles: Iterable[Profile] = ()) -> Matcher:
    m = Matcher()
    m._s.profiles = table  # the representation under test (a Matcher makes its own)
    for profile in profiles:
        m._load(profile)
    return m


def _run(records: list[dict[str, Any]], table: ProfileTable) -> tuple[list[Any], Matcher]:
    """Match every record in order; now and then a force confirms or rejects a link."""
    m = _matcher(table)
    said: list[Any] = []
    for n, record in enumerate(records):
        offenders = offenders_of(record)
        results = m.match(offenders)
        said.append([r.to_dict() for r in results])
        first = results[0]
        if n % 7 == 3 and first.decision == Decision.POSSIBLE and first.candidates:
            flags = m.confirm(first.report_id, 0, first.candidates[0].profile_id, "f")
            said.append(("confirm", [f.to_dict() for f in flags]))
        elif n % 11 == 5 and first.decision == Decision.AUTO_LINK and first.profile_id:
            moved = m.reject(first.report_id, 0, first.profile_id, "f", offenders[0])
            said.append(("reject", moved))
    return said, m


def test_matching_says_the_same_with_packed_profiles(records: list[dict[str, Any]]) -> None:
    before, m_before = _run(records, ProfileTable(pack=False))
    packed, m_packed = _run(records, ProfileTable())
    # A tiny cache: nearly every read materialises a row and every change is written back.
    churned, m_churned = _run(records, ProfileTable(cache_size=3))

    decisions = Counter(r["decision"] for step in before if isinstance(step, list) for r in step)
    assert decisions[Decision.AUTO_LINK] > 10 and decisions[Decision.POSSIBLE] > 100
    assert any(step[0] == "reject" for step in before if isinstance(step, tuple))
    assert packed == before
    assert churned == before
    stored = [p.to_dict() for p in m_before.profiles()]
    assert [p.to_dict() for p in m_packed.profiles()] == stored
    assert [p.to_dict() for p in m_churned.profiles()] == stored
    table = m_churned._s.profiles
    assert table.packed_count() > 0 and table.object_count() > 0


def test_restarted_matcher_ranks_the_same(records: list[dict[str, Any]]) -> None:
    _, m = _run(records[:300], ProfileTable(pack=False))
    stored = [json.dumps(p.to_dict()) for p in m.profiles()]
    loaded = [Profile.from_dict(json.loads(s)) for s in stored]  # as the service restarts
    plain = _matcher(ProfileTable(pack=False), loaded)
    packed = _matcher(ProfileTable(cache_size=5), [Profile.from_dict(p.to_dict()) for p in loaded])
    assert packed._s.profiles.packed_count() > len(stored) // 2
    for record in records[300:]:
        for f in offenders_of(record):
            assert packed.rank(f) == plain.rank(f)
    assert [json.dumps(p.to_dict()) for p in packed.profiles()] == stored


def _member(report: str = "R1", day: int = 739_000, **kw: Any) -> Member:
    return Member(report, kw.pop("index", 0), kw.pop("store", "s1"), "f1", day, **kw)


def _one(**kw: Any) -> Profile:
    base: dict[str, Any] = {"members": [_member(offence="theft", method="bag")]}
    base.update(kw)
    return Profile("P1", **base)


ROWS = [
    _one(),
    _one(sex_m=1, age=RangeStats(1, 27.5, 5.0), height=RangeStats(1, 180.0, 10.0)),
    _one(build={"slim": 1}, hair_colour={"brown": 1}, hair_length={"short": 1}),
    _one(hair_styles={"ponytail": 1, "braids": 1}, clothing={"red": 1, "hoodie": 1}),
    _one(names=["dan smith", "danny"], vrms=["AB12CDE"], methods={"bag": 1}),
    _one(marks=[Mark("tattoo", "hand", "left", frozenset({"rose"})), Mark("scar")]),
    _one(offences={"theft": 1}, age=RangeStats(1, 0.0, 0.0)),
]
OBJECTS = [
    Profile("P0"),  # no members
    _one(members=[_member(), _member("R2")]),
    _one(prolific_rules=["stores"]),
    _one(notified_forces=["f1"]),
    _one(age=RangeStats(2, 55.0, 10.0)),
    _one(age=RangeStats(1, 27.25, 5.0)),  # not two whole ages
    _one(height=RangeStats(1, 300.0, 0.0)),  # beyond a byte
    _one(age=RangeStats(1, -0.0, 0.0)),
    _one(build={"slim": 2}),
    _one(hair_colour={"brown": 1, "black": 1}),
    _one(clothing={"red": 1, "blue": 2}),
    _one(clothing={f"t{i}": 1 for i in range(300)}),
    _one(names=[]),
    _one(members=[_member(index=300)]),
]


@pytest.mark.parametrize("profile", ROWS + OBJECTS)
def test_table_gives_back_exactly_what_it_was_given(profile: Profile) -> None:
    table = ProfileTable(cache_size=1)
    table.append(Profile("filler", [_member("R0")]))
    table.append(profile)
    expect = json.dumps(profile.to_dict())
    assert json.dumps(table[1].to_dict()) == expect  # type: ignore[union-attr]
    table[0]  # evicts pid 1 from the cache
    assert json.dumps(table[1].to_dict()) == expect  # type: ignore[union-attr]
    assert table[1] == profile
    packed = profile in ROWS
    assert table.packed_count() == 1 + packed
    assert table.object_count() == (not packed)


def test_a_profile_changed_after_reading_is_kept_when_it_leaves_the_cache() -> None:
    table = ProfileTable(cache_size=1)
    table.extend(Profile(f"P{i}", [_member(f"R{i}")]) for i in range(3))
    first = table[0]
    assert first is not None and table[0] is first  # the same object while cached
    off = normalise_offender(offenders_of(_record())[0])
    first.add(off, _member("R9", store="s2"))
    table[1]  # pid 0 leaves the cache: it now has two members, so it stays an object
    assert table.object_count() == 1 and table[0] is first
    second = table[1]
    assert second is not None
    second.prolific_rules = ["reports_in_window"]
    table[2]
    assert table[1] is second and table.object_count() == 2
    reread = table[2]
    assert reread is not None and reread.to_dict() == Profile("P2", [_member("R2")]).to_dict()


def test_a_changed_single_report_profile_is_packed_again_with_its_change() -> None:
    table = ProfileTable(cache_size=1)
    table.extend(Profile(f"P{i}", [_member(f"R{i}")]) for i in range(2))
    profile = table[0]
    assert profile is not None
    off = normalise_offender(offenders_of(_record())[0])
    extra = _member("R9")
    profile.add(off, extra)
    profile.remove(off, extra)  # a force rejected it: one member again, names kept
    table[1]
    assert table.packed_count() == 2 and table.object_count() == 0
    again = table[0]
    assert again is not profile and again == profile
    assert again.names and again.names == profile.names  # what the removed report brought


def test_removed_replaced_and_iterated() -> None:
    table = ProfileTable()
    table.extend(Profile(f"P{i}", [_member(f"R{i}")]) for i in range(3))
    table[1] = None
    assert table[1] is None and len(table) == 3
    table[2] = Profile("P2", [_member("R2"), _member("R3")])
    assert [p.profile_id if p else None for p in table] == ["P0", None, "P2"]
    assert table.object_count() == 1 and table.packed_count() == 1
    peeked = table.peek(0)
    assert peeked is not None and table.peek(0) is not peeked  # peek does not cache
    with pytest.raises(IndexError):
        table[5] = None
    with pytest.raises(ValueError, match="cache_size"):
        ProfileTable(cache_size=0)


def _record() -> dict[str, Any]:
    return {
        "report_id": "R9",
        "store_id": "s2",
        "force": "f1",
        "occurred_at": "2025-03-01T12:00:00+00:00",
        "offence_type": "theft_from_shop",
        "offenders": [{"sex": "male", "name": "Dan Smith", "age_min": 20, "age_max": 25}],
    }


def _reference_candidates(
    index: BlockingIndex, keys: Iterable[Key], cap: int, exclude: Iterable[int]
) -> list[Candidate]:
    """The ranking before numpy (sets and a Counter), kept to compare against."""
    by_kind: dict[str, set[int]] = {}
    limit = index.max_postings_per_key
    for kind, key in keys:
        plist = index._postings.get(key)
        if plist is None:
            continue
        n = int(limit * KIND_POSTINGS_SHARE.get(kind, 1.0))
        by_kind.setdefault(kind, set()).update(plist[-n:] if len(plist) > n else plist)
    weight: Counter[int] = Counter()
    for kind, pids in by_kind.items():
        for pid in pids:
            weight[pid] += KIND_WEIGHTS[kind]
    for pid in exclude:
        weight.pop(pid, None)
    best = heapq.nlargest(cap, ((w << 32) | pid for pid, w in weight.items()))
    return [
        Candidate(
            code & 0xFFFFFFFF,
            tuple(k for k, pids in by_kind.items() if code & 0xFFFFFFFF in pids),
            code >> 32,
        )
        for code in best
    ]


@pytest.mark.parametrize("seed", range(6))
def test_numpy_ranking_equals_the_set_and_counter_one(seed: int) -> None:
    rng = random.Random(seed)
    index = BlockingIndex(max_postings_per_key=rng.choice((3, 40, 2_000)))
    kinds = list(KIND_WEIGHTS)
    vocabulary = [(rng.choice(kinds), f"k{i}") for i in range(60)]
    for pid in range(3_000):
        index.add(pid, {key for _, key in rng.sample(vocabulary, rng.randrange(1, 8))})
    for _ in range(30):
        keys = [*rng.sample(vocabulary, rng.randrange(1, 40)), ("name", "absent")]
        exclude = set(rng.sample(range(3_000), rng.randrange(0, 50)))
        cap = rng.choice((1, 5, 200, 5_000))
        got = index.candidates(keys, cap=cap, exclude=exclude)
        assert got == _reference_candidates(index, keys, cap, exclude)
    assert index.candidates([("name", "absent")]) == []
    index.add(3_000, ["k1"])  # the arrays can still grow: no view outlived the call
    assert index.document_frequency("k1") > 0
