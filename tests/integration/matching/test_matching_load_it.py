"""Matching's start on the real database: profiles streamed in batches into packed rows.

The service reads the stored profiles (JSON strings in FerretDB) a batch at a time and
the matcher packs single-report ones as they come. What the restarted matcher holds must
be exactly what was stored, across batch boundaries, without a profile merged away (an
alias whose document was not deleted yet), and it must rank new descriptions the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from shopwatch.matching.adapters.mongo import MongoMatching
from shopwatch.matching.domain import Decision, Matcher, OffenderFeatures
from shopwatch.matching.profiles import Member, Profile
from shopwatch.matching.service import MatchingService

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _features(n: int, report: str, day: int) -> OffenderFeatures:
    return OffenderFeatures(
        report_id=report,
        offender_index=0,
        store_id=f"gm-{n % 40:03d}",
        force="greater-manchester",
        occurred_at=T0 + timedelta(days=day),
        sex="female" if n % 5 == 0 else "male",
        age_min=18 + n % 40,
        age_max=24 + n % 40,
        height_min_cm=160 + n % 30,
        height_max_cm=170 + n % 30,
        build=("slim", "medium", "heavy")[n % 3],
        hair=("short brown hair", "long blonde hair in a ponytail", "bald")[n % 3],
        clothing=f"grey hoodie, jeans, cap {n % 17}",
        name=f"Person{n} Surname{n % 97}" if n % 4 == 0 else None,
        distinguishing_features="tattoo of a rose on left hand" if n % 9 == 0 else None,
    )


async def test_start_streams_stored_profiles_into_the_matcher_exactly(
    stack_env: Any, mongo_db_name: Callable[[str], str]
) -> None:
    # 2,400 people; every tenth seen twice (a profile of two reports, kept as an object).
    source = Matcher()
    for n in range(2_400):
        source.match([_features(n, f"R{n}", n % 200)])
    for n in range(0, 2_400, 10):
        first = source.profile_of(f"R{n}", 0)
        assert first is not None
        source.confirm(f"R{n}b", 0, first.profile_id)
        result = source.match([_features(n, f"R{n}b", n % 200 + 3)])[0]
        assert result.decision == Decision.CONFIRMED
    stored = {p.profile_id: json.dumps(p.to_dict()) for p in source.profiles()}

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url)
    try:
        db = client[mongo_db_name("load")]
        store = MongoMatching(db)
        await store.save_profiles(source.profiles())
        # A profile merged away whose document was not deleted yet: not loaded.
        stale = Profile("P-stale", [Member("S1", 0, "gm-001", "greater-manchester", 739_000)])
        await store.save_profiles([stale])
        alias = {"_id": "P-stale", "into": "P00000001"}
        await store.aliases.replace_one({"_id": "P-stale"}, alias, upsert=True)

        service = MatchingService(store, topic=lambda name: name, announce=lambda _: None)
        await service.load()
    finally:
        await client.close()

    matcher = service.matcher
    assert len(matcher) == len(stored) == len(source)
    loaded = {p.profile_id: json.dumps(p.to_dict()) for p in matcher.profiles()}
    assert loaded == stored
    table = matcher._s.profiles
    assert table.packed_count() > 1_500 and table.object_count() >= 200
    # The restarted matcher ranks a new description exactly as the one that was stored.
    for n in (0, 40, 41, 777, 2_399):
        f = _features(n, f"R{n}c", n % 200 + 9)
        assert matcher.rank(f) == source.rank(f)


async def test_store_locations_are_kept_and_known_again_after_a_restart(
    stack_env: Any, mongo_db_name: Callable[[str], str]
) -> None:
    from shopwatch.schemas.events import MatchingRequested
    from shopwatch.schemas.examples import example_event
    from shopwatch.schemas.registry import make_envelope
    from shopwatch.schemas.report import Location

    base = example_event(MatchingRequested)
    first = base.model_copy(
        update={"store_id": "str_a", "store_location": Location(latitude=53.48, longitude=-2.24)}
    )
    second = base.model_copy(
        update={
            "store_id": "str_b",
            "report_id": "rep_second",
            "case_id": "cas_second",
            "store_location": Location(latitude=53.48, longitude=-2.20),  # ~2.6 km east
        }
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url)
    try:
        store = MongoMatching(client[mongo_db_name("stores")])
        service = MatchingService(store, topic=lambda name: name, announce=lambda _: None)
        await service.load()
        for request in (first, second):
            await service.on_matching_requested(make_envelope(request, producer="routing"))

        restarted = MatchingService(store, topic=lambda name: name, announce=lambda _: None)
        await restarted.load()
    finally:
        await client.close()

    assert located(restarted) == {"str_a": (53.48, -2.24), "str_b": (53.48, -2.20)}
    assert restarted.matcher.geography.nearby("str_a") == {"str_b"}


def located(service: MatchingService) -> dict[str, tuple[float, float]]:
    return dict(service.matcher.geography.items())
