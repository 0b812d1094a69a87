"""Between the event contract and the matcher: features in, links and flags out. Pure.

The matcher scores in bits of evidence; the contract carries scores in 0..1. The mapping
is a logistic curve centred on the review threshold: a candidate at the review bar reads
0.5, one at the auto-link bar about 0.99. A feature's share is its weight over the
auto-link bar, capped at 1; features that counted against a link are left out.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time

from shopwatch.matching.domain import (
    Decision,
    LinkOverride,
    MatcherConfig,
    MatchResult,
    OffenderFeatures,
)
from shopwatch.matching.profiles import Profile
from shopwatch.matching.prolific import (
    RULE_REPORTS_IN_WINDOW,
    RULE_STORES,
    ProlificFlag,
    ProlificRule,
)
from shopwatch.matching.scoring import FeatureContribution
from shopwatch.schemas.enums import LinkStatus, ProlificCriterion
from shopwatch.schemas.events import (
    LinkedCaseRef,
    MatchedFeature,
    MatchingRequested,
    OffenderLink,
    OffenderLinkDecided,
    ProlificOffenderFlagged,
)
from shopwatch.schemas.report import OffenderDescription

MAX_LINKED_CASES = 200
_FEATURE_NAME = re.compile(r"[^a-z0-9_]+")


def features_of(request: MatchingRequested) -> list[OffenderFeatures]:
    """One matcher input per described offender (ethnicity is never among them)."""
    return [
        _features(
            offender,
            index,
            report_id=request.report_id,
            store_id=request.store_id,
            force=request.force,
            occurred_at=request.occurred_at,
            offence_type=request.offence_type.value,
            store_location=(
                None
                if request.store_location is None
                else (request.store_location.latitude, request.store_location.longitude)
            ),
        )
        for index, offender in enumerate(request.offenders)
    ]


def decision_of(decided: OffenderLinkDecided) -> tuple[LinkOverride, OffenderFeatures | None]:
    """The force's decision as the matcher remembers it, and the offender it is about."""
    decision = LinkOverride(
        report_id=decided.report_id,
        offender_index=decided.offender_index,
        profile_id=decided.profile_id,
        confirmed=decided.decision == LinkStatus.CONFIRMED,
        force=decided.force,
    )
    if decided.offender is None:
        return decision, None
    features = _features(
        decided.offender,
        decided.offender_index,
        report_id=decided.report_id,
        store_id=decided.store_id,
        force=decided.force,
        occurred_at=decided.occurred_at,
        offence_type=decided.offence_type.value,
    )
    return decision, features


def _features(
    offender: OffenderDescription,
    index: int,
    *,
    report_id: str,
    store_id: str,
    force: str,
    occurred_at: datetime,
    offence_type: str,
    store_location: tuple[float, float] | None = None,
) -> OffenderFeatures:
    return OffenderFeatures(
        store_location=store_location,
        report_id=report_id,
        offender_index=index,
        store_id=store_id,
        force=force,
        occurred_at=occurred_at,
        offence_type=offence_type,
        sex=None if offender.sex.value == "unknown" else offender.sex.value,
        age_min=offender.age_min,
        age_max=offender.age_max,
        height_min_cm=offender.height_min_cm,
        height_max_cm=offender.height_max_cm,
        build=offender.build.value if offender.build else None,
        hair=offender.hair,
        clothing=offender.clothing,
        distinguishing_features=offender.distinguishing_features,
        name=offender.name,
        aliases=tuple(offender.aliases),
        vehicle_registration=offender.vehicle_registration,
    )


def score01(bits: float, config: MatcherConfig) -> float:
    return float(1.0 / (1.0 + 2.0 ** (-(bits - config.review))))


def links_of(
    results: list[MatchResult], profile_of: dict[str, Profile], config: MatcherConfig
) -> list[OffenderLink]:
    links: list[OffenderLink] = []
    for result in results:
        if result.decision in {Decision.AUTO_LINK, Decision.CONFIRMED, Decision.DUPLICATE}:
            profile = profile_of.get(result.profile_id or "")
            if profile is None or len(profile.report_ids) < 2:
                continue  # a profile of this report alone links to nothing yet
            status = (
                LinkStatus.CONFIRMED
                if result.decision == Decision.CONFIRMED
                else LinkStatus.AUTO_LINKED
            )
            links.append(
                _link(
                    result.offender_index,
                    profile,
                    result.score,
                    result.features,
                    status,
                    config,
                    result.report_id,
                )
            )
        for candidate in result.possible_links:
            profile = profile_of.get(candidate.profile_id)
            if profile is not None:
                links.append(
                    _link(
                        result.offender_index,
                        profile,
                        candidate.score,
                        candidate.features,
                        LinkStatus.CANDIDATE,
                        config,
                        result.report_id,
                    )
                )
    return links[:400]


def _link(
    offender_index: int,
    profile: Profile,
    bits: float | None,
    features: tuple[FeatureContribution, ...],
    status: LinkStatus,
    config: MatcherConfig,
    this_report: str,
) -> OffenderLink:
    others = [m for m in profile.members if m.report_id != this_report]
    cases = list(
        {m.report_id: LinkedCaseRef(case_id=m.report_id, force=m.force) for m in others}.values()
    )
    return OffenderLink(
        offender_index=offender_index,
        profile_id=profile.profile_id,
        score=round(score01(bits if bits is not None else config.auto_link, config), 4),
        status=status,
        matched_features=[
            MatchedFeature(
                feature=_FEATURE_NAME.sub("_", f.feature.lower()).strip("_")[:40] or "feature",
                score=round(min(1.0, f.weight / config.auto_link), 4),
                detail=f.detail[:200] or None,
            )
            for f in features
            if f.weight > 0
        ][:20],
        linked_case_count=len(cases),
        linked_cases=cases[:MAX_LINKED_CASES],
    )


def prolific_events(
    flag: ProlificFlag, profile: Profile, rule: ProlificRule, now: datetime
) -> list[ProlificOffenderFlagged]:
    """One event per force the flag is for; each carries ids and forces of linked cases."""
    crossed = profile.prolific_rules or []
    criteria = [
        criterion
        for rule_name, criterion in (
            (RULE_REPORTS_IN_WINDOW, ProlificCriterion.REPORT_COUNT),
            (RULE_STORES, ProlificCriterion.STORE_COUNT),
        )
        if rule_name in crossed
    ] or [ProlificCriterion.REPORT_COUNT]
    first = datetime.combine(date.fromordinal(profile.first_day), time(), now.tzinfo)
    last = datetime.combine(date.fromordinal(profile.last_day), time(), now.tzinfo)
    cases = list(
        {
            m.report_id: LinkedCaseRef(case_id=m.report_id, force=m.force) for m in profile.members
        }.values()
    )
    return [
        ProlificOffenderFlagged(
            profile_id=profile.profile_id,
            force=force,
            criteria=criteria,
            report_count=flag.report_count,
            store_count=flag.store_count,
            force_count=len(profile.forces),
            window_days=rule.window_days,
            first_seen_at=first,
            last_seen_at=last,
            linked_cases=cases[:500],
            flagged_at=now,
        )
        for force in flag.forces
    ]
