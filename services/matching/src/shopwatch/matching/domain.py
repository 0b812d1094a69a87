"""Matching's rules: offenders in, links and profiles out. No I/O.

``OffenderFeatures`` is what the matcher reads of one described offender. ``Matcher``
links each offender of a report to a profile online, in arrival order:

* score >= ``auto_link`` and clearly ahead of the runner-up: the offender joins that
  profile (``AUTO_LINK``);
* otherwise a new profile is made, and any candidates scoring >= ``review`` go to the
  force's analysts as *possible links* (``POSSIBLE``), best first;
* below that, just a new profile (``NEW``).

A force's decision on a pair (offender, profile) is remembered and beats any score:
``confirm`` merges the offender's profile into the confirmed one, ``reject`` moves the
offender out if it was linked there and keeps that profile away from it for good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shopwatch.matching.blocking import profile_keys, query_keys
from shopwatch.matching.compact import ProfileTable
from shopwatch.matching.geography import Location, StoreGeography
from shopwatch.matching.index import DEFAULT_CAP, BlockingIndex
from shopwatch.matching.normalise import MAX_TEXT_CHARS, NormalisedOffender, normalise_offender
from shopwatch.matching.profiles import Member, Profile
from shopwatch.matching.prolific import ProlificFlag, ProlificRule, check_prolific
from shopwatch.matching.scoring import DEFAULT_WEIGHTS, FeatureContribution, ScoringWeights, score

AGE_LIMITS = (0, 120)
HEIGHT_LIMITS_CM = (50, 250)
MAX_ALIASES = 10
MAX_OFFENDERS_PER_REPORT = 20

RARITY_PRIOR_WEIGHT = 50
RARITY_PRIOR_SHARE = 0.05

OffenderRef = tuple[str, int]  # (report_id, offender_index)


@dataclass(frozen=True, slots=True)
class OffenderFeatures:
    """One described offender, as the matcher sees it.

    Built from the event contract's ``OffenderDescription`` (plus the report's id, store,
    force, time and offence) by an adapter in the service layer; this module does not
    import the contract so the rules can be tested and benchmarked on their own.

    Every description field is optional, as staff say only what they know. There is no
    ethnicity field on purpose: ethnicity (IC codes) is sensitive processing under DPA
    2018 s.35 and is never a matching feature, so it is never carried here.

    Raises ``ValueError`` (naming the field) for values no real description has: reversed
    or impossible ranges, oversized text. Vague but possible values (age 18-70) are
    accepted and simply count for little.
    """

    report_id: str
    offender_index: int
    store_id: str
    force: str
    occurred_at: datetime
    offence_type: str | None = None
    method: str | None = None
    sex: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    height_min_cm: int | None = None
    height_max_cm: int | None = None
    build: str | None = None
    hair: str | None = None
    clothing: str | None = None
    distinguishing_features: str | None = None
    name: str | None = None
    aliases: tuple[str, ...] = ()
    vehicle_registration: str | None = None
    # The store's registered (latitude, longitude), when the request carries it.
    store_location: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for fname in ("report_id", "store_id", "force"):
            value = getattr(self, fname)
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise ValueError(f"{fname}: must be a non-empty string of at most 200 chars")
        if not isinstance(self.occurred_at, datetime):
            raise ValueError("occurred_at: must be a datetime")
        if not 0 <= self.offender_index < MAX_OFFENDERS_PER_REPORT:
            raise ValueError(f"offender_index: must be 0..{MAX_OFFENDERS_PER_REPORT - 1}")
        _check_range("age", self.age_min, self.age_max, AGE_LIMITS)
        _check_range("height_cm", self.height_min_cm, self.height_max_cm, HEIGHT_LIMITS_CM)
        if self.store_location is not None:
            _check_location(self.store_location)
        for fname in (
            "offence_type",
            "method",
            "sex",
            "build",
            "hair",
            "clothing",
            "distinguishing_features",
            "name",
            "vehicle_registration",
        ):
            value = getattr(self, fname)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT_CHARS):
                raise ValueError(f"{fname}: must be text of at most {MAX_TEXT_CHARS} characters")
        if len(self.aliases) > MAX_ALIASES or any(
            not isinstance(a, str) or len(a) > 200 for a in self.aliases
        ):
            raise ValueError(f"aliases: at most {MAX_ALIASES} names of at most 200 characters")

    @property
    def ref(self) -> OffenderRef:
        return (self.report_id, self.offender_index)


def _check_range(name: str, lo: int | None, hi: int | None, limits: tuple[int, int]) -> None:
    for label, v in (("min", lo), ("max", hi)):
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int) or not limits[0] <= v <= limits[1]
        ):
            raise ValueError(f"{name}_{label}: must be a whole number in {limits[0]}..{limits[1]}")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"{name}: min {lo} is above max {hi}")


# The contract's bounds (`schemas.report.Location`): the UK and its surrounding waters.
LATITUDE_LIMITS = (49.0, 61.5)
LONGITUDE_LIMITS = (-11.0, 2.5)


def _check_location(location: tuple[float, float]) -> None:
    if not (isinstance(location, tuple) and len(location) == 2):
        raise ValueError("store_location: must be (latitude, longitude)")
    for label, value, (lo, hi) in (
        ("latitude", location[0], LATITUDE_LIMITS),
        ("longitude", location[1], LONGITUDE_LIMITS),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise ValueError(f"store_location: {label} must be a number in {lo}..{hi}")


class Decision:
    AUTO_LINK = "auto_link"
    CONFIRMED = "confirmed"  # a force confirmed this pair earlier: linked regardless of score
    POSSIBLE = "possible"  # new profile, with possible links for the analysts
    NEW = "new"
    DUPLICATE = "duplicate"  # this offender was matched before (a redelivered event)
    NOT_DESCRIBED = "not_described"  # nothing to match on: no profile, no candidates


@dataclass(frozen=True, slots=True)
class MatcherConfig:
    auto_link: float = 12.0
    """Bits at or above which an offender joins a profile without a human."""
    review: float = 5.0
    """Bits at or above which a candidate is shown to analysts as a possible link."""
    margin: float = 2.5
    """The best must beat the runner-up by this many bits to auto-link."""
    weak_auto_link: float = 14.0
    """Without a name, registration or mark, the bar to auto-link is this instead."""
    top_k: int = 5
    candidate_cap: int = DEFAULT_CAP
    weights: ScoringWeights = DEFAULT_WEIGHTS

    def __post_init__(self) -> None:
        if self.review > self.auto_link or self.auto_link > self.weak_auto_link:
            raise ValueError("thresholds must satisfy review <= auto_link <= weak_auto_link")
        if self.top_k < 1 or self.candidate_cap < 1:
            raise ValueError("top_k and candidate_cap must be positive")


@dataclass(frozen=True, slots=True)
class PossibleLink:
    """A scored candidate profile with the features that matched."""

    profile_id: str
    score: float
    features: tuple[FeatureContribution, ...]
    reasons: tuple[str, ...]  # the blocking kinds that found it

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "score": round(self.score, 2),
            "features": [f.to_dict() for f in self.features],
            "blocked_on": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class MatchResult:
    report_id: str
    offender_index: int
    decision: str
    profile_id: str | None
    score: float | None = None
    features: tuple[FeatureContribution, ...] = ()
    candidates: tuple[PossibleLink, ...] = ()
    """The top-k scored candidates (before the decision), best first."""
    flags: tuple[ProlificFlag, ...] = ()

    @property
    def possible_links(self) -> tuple[PossibleLink, ...]:
        """Candidates for the analyst queue (only when the offender was not linked)."""
        if self.decision != Decision.POSSIBLE:
            return ()
        return self.candidates

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "offender_index": self.offender_index,
            "decision": self.decision,
            "profile_id": self.profile_id,
            "score": None if self.score is None else round(self.score, 2),
            "features": [f.to_dict() for f in self.features],
            "candidates": [c.to_dict() for c in self.candidates],
            "flags": [f.to_dict() for f in self.flags],
        }


@dataclass(frozen=True, slots=True)
class LinkOverride:
    """A force's word on one pair; serialisable so the service can store and reload it."""

    report_id: str
    offender_index: int
    profile_id: str
    confirmed: bool
    force: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "offender_index": self.offender_index,
            "profile_id": self.profile_id,
            "confirmed": self.confirmed,
            "force": self.force,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LinkOverride:
        return cls(
            str(raw["report_id"]),
            int(raw["offender_index"]),
            str(raw["profile_id"]),
            bool(raw["confirmed"]),
            raw.get("force"),
        )


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What a force's decision changed, for the service to persist and announce."""

    changed: tuple[Profile, ...] = ()
    """Profiles to save (the merged or split ones)."""
    merged: tuple[tuple[str, str], ...] = ()
    """(gone, into): profiles merged away, whose ids now resolve to another."""
    flags: tuple[ProlificFlag, ...] = ()


@dataclass(slots=True)
class _State:
    profiles: ProfileTable = field(default_factory=ProfileTable)
    pid_of: dict[str, int] = field(default_factory=dict)
    merged_into: dict[str, str] = field(default_factory=dict)
    assigned: dict[OffenderRef, int] = field(default_factory=dict)
    confirmed: dict[OffenderRef, str] = field(default_factory=dict)
    rejected: dict[OffenderRef, set[str]] = field(default_factory=dict)
    overrides: list[LinkOverride] = field(default_factory=list)


class Matcher:
    """The online matcher: profiles, their blocking index and the forces' decisions."""

    def __init__(
        self,
        profiles: Iterable[Profile] = (),
        *,
        config: MatcherConfig | None = None,
        prolific_rule: ProlificRule | None = None,
        overrides: Iterable[LinkOverride] = (),
        aliases: Mapping[str, str] | None = None,
        new_profile_id: Callable[[], str] | None = None,
        store_locations: Mapping[str, Location] | None = None,
    ) -> None:
        self.config = config or MatcherConfig()
        self.geography = StoreGeography(store_locations)
        self.prolific_rule = prolific_rule or ProlificRule()
        self.index = BlockingIndex()
        self._s = _State()
        self._counter = 0
        self._new_id = new_profile_id or self._sequential_id
        for profile in profiles:
            self._load(profile)
        self._s.merged_into.update(aliases or {})
        for override in overrides:
            self._remember(override)

    # --- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._s.pid_of)

    def profiles(self) -> Iterator[Profile]:
        return (p for p in self._s.profiles if p is not None)

    def profile(self, profile_id: str) -> Profile | None:
        profile_id = self._resolve(profile_id)
        pid = self._s.pid_of.get(profile_id)
        return None if pid is None else self._s.profiles[pid]

    def profile_of(self, report_id: str, offender_index: int) -> Profile | None:
        pid = self._s.assigned.get((report_id, offender_index))
        return None if pid is None else self._s.profiles[pid]

    @property
    def overrides(self) -> list[LinkOverride]:
        return list(self._s.overrides)

    @property
    def aliases(self) -> dict[str, str]:
        """Ids of profiles merged away and the profile each was merged into."""
        return dict(self._s.merged_into)

    # --- matching -----------------------------------------------------------------------

    def match(self, offenders: Sequence[OffenderFeatures]) -> list[MatchResult]:
        """Match the offenders of one report, in order; updates profiles and the index.

        Two offenders of the same report are different people, so the second never joins
        the profile the first joined.
        """
        taken: set[int] = set()
        results = []
        for features in offenders:
            result = self._match_one(features, taken)
            if result.profile_id is not None:
                taken.add(self._s.pid_of[result.profile_id])
            results.append(result)
        return results

    def rank(self, features: OffenderFeatures) -> list[PossibleLink]:
        """Score the candidates for one offender without changing anything."""
        off = self._normalise(features, learn=False)
        if not off.describes_someone:
            return []
        return self._ranked(off, features.ref, set(), self.config.top_k)

    def _normalise(self, features: OffenderFeatures, *, learn: bool = True) -> NormalisedOffender:
        """The offender as scored, with the stores near the report's store (learning where
        that store is, unless only ranking)."""
        off = normalise_offender(features)
        where = features.store_location
        if learn and where is not None:
            self.geography.learn(features.store_id, where)
        if where is None or self.geography.location(features.store_id) == where:
            nearby = self.geography.nearby(features.store_id)  # cached per store
        else:
            nearby = self.geography.near(where) - {features.store_id}
        return replace(off, nearby_stores=nearby) if nearby else off

    def _ranked(
        self, off: NormalisedOffender, ref: OffenderRef, taken: set[int], explain_top: int
    ) -> list[PossibleLink]:
        s = self._s
        exclude = set(taken)
        for profile_id in s.rejected.get(ref, ()):
            pid = s.pid_of.get(self._resolve(profile_id))
            if pid is not None:
                exclude.add(pid)
        keys = query_keys(off)
        candidates = self.index.candidates(keys, cap=self.config.candidate_cap, exclude=exclude)
        rarity = self._rarity(keys)
        scored: list[tuple[float, int, tuple[str, ...]]] = []
        for cand in candidates:
            profile = s.profiles[cand.pid]
            if profile is None:
                continue
            psex = profile.sex
            if off.sex and psex and off.sex != psex:  # incompatible sex: never a candidate
                continue
            sc = score(off, profile, self.config.weights, rarity=rarity, explain=False)
            scored.append((sc.total, cand.pid, cand.reasons))
        scored.sort(key=lambda c: c[0], reverse=True)
        out = []
        for i, (total, pid, reasons) in enumerate(scored):
            profile = s.profiles[pid]
            assert profile is not None
            if i < explain_top:  # explain the few a person may read; ids and scores for the rest
                sc = score(off, profile, self.config.weights, rarity=rarity, explain=True)
                out.append(PossibleLink(profile.profile_id, sc.total, sc.contributions, reasons))
            else:
                out.append(PossibleLink(profile.profile_id, total, (), reasons))
        return out

    def _rarity(self, keys: Iterable[tuple[str, str]]) -> dict[str, float]:
        """Share of profiles holding each name token / mark key, smoothed toward a prior.

        Smoothing (``RARITY_PRIOR_WEIGHT`` pseudo-profiles at ``RARITY_PRIOR_SHARE``) keeps
        the first few hundred profiles from making every token look unique.
        """
        n = len(self._s.pid_of)
        out: dict[str, float] = {}
        for kind, key in keys:
            if kind in ("name", "mark"):
                df = self.index.document_frequency(key)
                out[key] = (df + RARITY_PRIOR_WEIGHT * RARITY_PRIOR_SHARE) / (
                    n + RARITY_PRIOR_WEIGHT
                )
        return out

    def _match_one(self, features: OffenderFeatures, taken: set[int]) -> MatchResult:
        s, cfg = self._s, self.config
        ref = features.ref
        if ref in s.assigned:
            profile = s.profiles[s.assigned[ref]]
            assert profile is not None
            return MatchResult(ref[0], ref[1], Decision.DUPLICATE, profile.profile_id)
        off = self._normalise(features)
        if not off.describes_someone:
            return MatchResult(ref[0], ref[1], Decision.NOT_DESCRIBED, None)
        member = Member(
            features.report_id,
            features.offender_index,
            features.store_id,
            features.force,
            off.day,
            off.offence,
            off.method,
        )

        confirmed = s.confirmed.get(ref)
        if confirmed is not None:
            pid = s.pid_of.get(self._resolve(confirmed))
            if pid is not None and pid not in taken:
                flags = self._join(pid, off, member)
                return MatchResult(
                    ref[0],
                    ref[1],
                    Decision.CONFIRMED,
                    self._get(pid).profile_id,
                    flags=flags,
                )

        ranked = self._ranked(off, ref, taken, cfg.top_k)
        top = tuple(ranked[: cfg.top_k])
        best = ranked[0] if ranked else None
        runner_up = ranked[1].score if len(ranked) > 1 else float("-inf")
        bar = cfg.auto_link if off.has_identifier else cfg.weak_auto_link
        if best is not None and best.score >= bar and best.score - runner_up >= cfg.margin:
            pid = s.pid_of[best.profile_id]
            flags = self._join(pid, off, member)
            return MatchResult(
                ref[0],
                ref[1],
                Decision.AUTO_LINK,
                best.profile_id,
                best.score,
                best.features,
                top,
                flags,
            )
        pid = self._create(off, member)
        flags = self._check(pid)
        possible = tuple(c for c in top if c.score >= cfg.review)
        decision = Decision.POSSIBLE if possible else Decision.NEW
        return MatchResult(
            ref[0],
            ref[1],
            decision,
            self._get(pid).profile_id,
            candidates=top,
            flags=flags,
        )

    # --- the forces' decisions ----------------------------------------------------------

    def decide(
        self, decision: LinkOverride, features: OffenderFeatures | None = None
    ) -> DecisionOutcome:
        """Apply a force's decision (``confirm`` or ``reject``) and say what changed.

        Safe to repeat: a decision already in effect changes nothing the second time.
        A decision on an offender not matched yet is only remembered; it applies when
        that offender is matched.
        """
        ref = (decision.report_id, decision.offender_index)
        before = self.profile_of(*ref)
        if decision.confirmed:
            flags = self.confirm(*ref, decision.profile_id, decision.force)
            after = self.profile_of(*ref)
            if before is None or after is None or after is before:
                return DecisionOutcome(flags=flags)
            return DecisionOutcome((after,), ((before.profile_id, after.profile_id),), flags)
        moved = self.reject(*ref, decision.profile_id, decision.force, features)
        after = self.profile_of(*ref)
        if before is None or after is None or after is before or moved is None:
            return DecisionOutcome()
        return DecisionOutcome((before, after))

    def confirm(
        self, report_id: str, offender_index: int, profile_id: str, force: str | None = None
    ) -> tuple[ProlificFlag, ...]:
        """A force says this offender is the person of ``profile_id``: merge and remember."""
        override = LinkOverride(report_id, offender_index, profile_id, True, force)
        self._remember(override)
        s = self._s
        target = s.pid_of.get(self._resolve(profile_id))
        current = s.assigned.get((report_id, offender_index))
        if target is None or current is None or current == target:
            return ()
        self._merge(into=target, other=current)
        flag = self._check(target)
        return flag

    def reject(
        self,
        report_id: str,
        offender_index: int,
        profile_id: str,
        force: str | None = None,
        features: OffenderFeatures | None = None,
    ) -> str | None:
        """A force says this offender is *not* ``profile_id``. Returns the offender's profile.

        If the offender had been linked there, the link is undone: the offender moves to a
        new profile of its own. Pass the offender's ``features`` so its description moves
        with it (counts and ranges are taken off the old profile; names, plates and marks
        it brought stay there, as a profile does not record who said which).
        """
        override = LinkOverride(report_id, offender_index, profile_id, False, force)
        self._remember(override)
        s = self._s
        ref = (report_id, offender_index)
        current = s.assigned.get(ref)
        if current is None:
            return None
        profile = s.profiles[current]
        assert profile is not None
        target = s.pid_of.get(self._resolve(profile_id))
        if target is None or current != target or len(profile.members) < 2:
            return profile.profile_id
        member = next(m for m in profile.members if m.ref == ref)
        new = Profile(self._new_id())
        if features is not None and features.ref == ref:
            off = normalise_offender(features)
            profile.remove(off, member)
            new.add(off, member)
        else:
            profile.detach(member)
            new.members.append(member)
        new_pid = self._register(new)
        s.assigned[ref] = new_pid
        self.index.add(new_pid, profile_keys(new))
        return new.profile_id

    # --- internals ----------------------------------------------------------------------

    def _get(self, pid: int) -> Profile:
        profile = self._s.profiles[pid]
        assert profile is not None, "merged profiles are never handed out"
        return profile

    def _sequential_id(self) -> str:
        # Skip ids already taken by loaded profiles (the default ids are only unique
        # within one matcher's history; the service passes its own id factory).
        while True:
            self._counter += 1
            candidate = f"P{self._counter:08d}"
            if candidate not in self._s.pid_of and candidate not in self._s.merged_into:
                return candidate

    def _resolve(self, profile_id: str) -> str:
        seen = 0
        while profile_id in self._s.merged_into and seen < 1000:
            profile_id = self._s.merged_into[profile_id]
            seen += 1
        return profile_id

    def _remember(self, o: LinkOverride) -> None:
        s = self._s
        ref = (o.report_id, o.offender_index)
        s.overrides.append(o)
        if o.confirmed:
            s.confirmed[ref] = o.profile_id
            s.rejected.get(ref, set()).discard(o.profile_id)
        else:
            s.rejected.setdefault(ref, set()).add(o.profile_id)
            if s.confirmed.get(ref) == o.profile_id:
                del s.confirmed[ref]

    def _register(self, profile: Profile) -> int:
        s = self._s
        if profile.profile_id in s.pid_of:
            raise ValueError(f"duplicate profile id {profile.profile_id!r}")
        pid = len(s.profiles)
        s.profiles.append(profile)
        s.pid_of[profile.profile_id] = pid
        return pid

    def _load(self, profile: Profile) -> None:
        pid = self._register(profile)
        for m in profile.members:
            self._s.assigned[m.ref] = pid
        self.index.add(pid, profile_keys(profile))

    def _create(self, off: NormalisedOffender, member: Member) -> int:
        profile = Profile(self._new_id())
        profile.add(off, member)
        pid = self._register(profile)
        self._s.assigned[member.ref] = pid
        self.index.add(pid, profile_keys(profile))
        return pid

    def _join(self, pid: int, off: NormalisedOffender, member: Member) -> tuple[ProlificFlag, ...]:
        profile = self._s.profiles[pid]
        assert profile is not None
        before = profile_keys(profile)
        profile.add(off, member)
        self._s.assigned[member.ref] = pid
        self.index.add(pid, profile_keys(profile) - before)
        return self._check(pid)

    def _merge(self, *, into: int, other: int) -> None:
        s = self._s
        target, gone = s.profiles[into], s.profiles[other]
        assert target is not None and gone is not None
        before = profile_keys(target)
        target.absorb(gone)
        for m in gone.members:
            s.assigned[m.ref] = into
        s.profiles[other] = None
        del s.pid_of[gone.profile_id]
        s.merged_into[gone.profile_id] = target.profile_id
        self.index.add(into, profile_keys(target) - before)

    def _check(self, pid: int) -> tuple[ProlificFlag, ...]:
        profile = self._s.profiles[pid]
        assert profile is not None
        flag = check_prolific(profile, self.prolific_rule)
        return (flag,) if flag else ()
