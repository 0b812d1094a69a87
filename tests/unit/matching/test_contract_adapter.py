"""The adapter between the event contract and the matcher."""

from shopwatch.matching.contract import decision_of, features_of, links_of, score01
from shopwatch.matching.domain import LinkOverride, Matcher, MatcherConfig
from shopwatch.schemas.enums import LinkStatus
from shopwatch.schemas.events import MatchingRequested, OffenderLinkDecided
from shopwatch.schemas.examples import example_event
from shopwatch.schemas.report import Location


def request(report_id: str, store_id: str, force: str) -> MatchingRequested:
    base = example_event(MatchingRequested)
    return base.model_copy(
        update={"report_id": report_id, "case_id": report_id, "store_id": store_id, "force": force}
    )


def test_features_carry_the_description_but_never_ethnicity() -> None:
    base = example_event(MatchingRequested)
    (features,) = features_of(base)[:1]
    offender = base.offenders[0]
    assert features.name == offender.name and features.force == base.force
    assert not hasattr(features, "ic_code")


def test_score_mapping_is_monotone_and_bounded() -> None:
    config = MatcherConfig()
    values = [score01(bits, config) for bits in (-50, 0, config.review, config.auto_link, 80)]
    assert values == sorted(values)
    assert values[0] >= 0 and values[-1] <= 1
    assert abs(score01(config.review, config) - 0.5) < 1e-9


def test_a_repeat_links_to_the_earlier_case_with_its_force() -> None:
    matcher = Matcher()
    first = request("rep_1", "st_1", "durham")
    second = request("rep_2", "st_2", "cleveland")
    matcher.match(features_of(first))
    results = matcher.match(features_of(second))
    profiles = {r.profile_id: matcher.profile(r.profile_id) for r in results if r.profile_id}
    links = links_of(results, {k: v for k, v in profiles.items() if v}, matcher.config)
    assert links, "the same described offender should link"
    link = links[0]
    assert link.status in {LinkStatus.AUTO_LINKED, LinkStatus.CANDIDATE}
    assert [(c.case_id, c.force) for c in link.linked_cases] == [("rep_1", "durham")]
    assert all(0 <= f.score <= 1 for f in link.matched_features)


def test_a_link_decision_becomes_an_override_and_the_offenders_features() -> None:
    decided = example_event(OffenderLinkDecided)
    override, features = decision_of(decided)
    assert override == LinkOverride(
        decided.report_id, decided.offender_index, decided.profile_id, True, decided.force
    )
    assert features is not None and features.ref == (decided.report_id, 0)
    assert decided.offender is not None and features.name == decided.offender.name
    rejected = decided.model_copy(update={"decision": LinkStatus.REJECTED, "offender": None})
    override, features = decision_of(rejected)
    assert override.confirmed is False and features is None


def test_features_carry_the_stores_location_when_the_request_has_one() -> None:
    base = example_event(MatchingRequested)
    located = base.model_copy(update={"store_location": Location(latitude=53.48, longitude=-2.24)})
    assert {f.store_location for f in features_of(located)} == {(53.48, -2.24)}
    unlocated = base.model_copy(update={"store_location": None})
    assert {f.store_location for f in features_of(unlocated)} == {None}
