"""Stores near each other: distances, neighbours, and what "nearby" does to a score."""

from datetime import UTC, datetime, timedelta

import pytest

from shopwatch.matching.domain import Matcher, OffenderFeatures
from shopwatch.matching.geography import StoreGeography, distance_km

MANCHESTER = (53.4808, -2.2426)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def east_of(origin: tuple[float, float], km: float) -> tuple[float, float]:
    # 1 degree of longitude at Manchester's latitude is ~66.2 km.
    return origin[0], origin[1] + km / 66.2


def test_distance_is_great_circle_kilometres() -> None:
    leeds = (53.8008, -1.5491)
    assert distance_km(MANCHESTER, leeds) == pytest.approx(57.0, abs=1.0)
    assert distance_km(MANCHESTER, MANCHESTER) == 0.0


def test_neighbours_are_the_known_stores_within_near_km_in_any_direction() -> None:
    geo = StoreGeography(
        {
            "here": MANCHESTER,
            "east-4km": east_of(MANCHESTER, 4.0),
            "west-4.9km": east_of(MANCHESTER, -4.9),
            "north-4km": (MANCHESTER[0] + 4.0 / 111.2, MANCHESTER[1]),
            "east-6km": east_of(MANCHESTER, 6.0),
            "leeds": (53.8008, -1.5491),
        }
    )
    assert geo.nearby("here") == {"east-4km", "west-4.9km", "north-4km"}
    assert "here" not in geo.nearby("east-6km")
    assert "here" in geo.nearby("east-4km")  # neighbours both ways
    assert geo.nearby("nowhere") == frozenset()


def test_learning_a_store_says_if_it_was_new_and_updates_neighbours() -> None:
    geo = StoreGeography({"here": MANCHESTER})
    assert geo.nearby("here") == frozenset()
    assert geo.learn("there", east_of(MANCHESTER, 2.0)) is True
    assert geo.learn("there", east_of(MANCHESTER, 2.0)) is False
    assert geo.nearby("here") == {"there"}
    assert geo.learn("there", east_of(MANCHESTER, 20.0)) is True  # the store moved
    assert geo.nearby("here") == frozenset()
    assert len(geo) == 2


def features(
    report: str, store: str, location: tuple[float, float] | None, day: int
) -> OffenderFeatures:
    return OffenderFeatures(
        report_id=report,
        offender_index=0,
        store_id=store,
        force="greater-manchester",
        occurred_at=T0 + timedelta(days=day),
        sex="male",
        age_min=30,
        age_max=40,
        build="heavy",
        hair="short brown hair",
        store_location=location,
    )


def store_bits(matcher: Matcher, query: OffenderFeatures) -> list[tuple[str, float]]:
    (best,) = matcher.rank(query)[:1]
    return [(c.feature, c.weight) for c in best.features if c.feature == "store"]


def test_a_store_near_one_the_profile_used_counts_for_it_and_a_far_one_does_not() -> None:
    matcher = Matcher()
    matcher.match([features("R1", "gm-001", MANCHESTER, 0)])
    weights = matcher.config.weights

    near = features("R2", "gm-002", east_of(MANCHESTER, 3.0), 5)
    far = features("R3", "gm-003", east_of(MANCHESTER, 12.0), 5)
    unlocated = features("R4", "gm-004", None, 5)

    assert store_bits(matcher, near) == [("store", weights.nearby_store)]
    assert store_bits(matcher, far) == []
    assert store_bits(matcher, unlocated) == []
    near_total = matcher.rank(near)[0].score
    assert near_total - matcher.rank(far)[0].score == pytest.approx(weights.nearby_store)


def test_an_absurd_location_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="store_location: latitude"):
        features("R1", "gm-001", (0.0, -2.0), 0)
    with pytest.raises(ValueError, match="store_location: longitude"):
        features("R1", "gm-001", (53.0, 40.0), 0)


def test_ranking_uses_the_query_stores_location_without_remembering_it() -> None:
    matcher = Matcher()
    matcher.match([features("R1", "gm-001", MANCHESTER, 0)])
    query = features("R2", "gm-new", east_of(MANCHESTER, 3.0), 5)
    assert store_bits(matcher, query) == [("store", matcher.config.weights.nearby_store)]
    assert matcher.geography.location("gm-new") is None
    matcher.match([query])
    assert matcher.geography.location("gm-new") == east_of(MANCHESTER, 3.0)
