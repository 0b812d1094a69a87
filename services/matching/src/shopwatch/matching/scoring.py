"""Explainable scoring of one described offender against one profile.

The score is a sum of *match weights* in bits, in the manner of Fellegi-Sunter: each
feature adds ``log2(P(observation | same person) / P(observation | different person))``.
A positive contribution is evidence for a link, a negative one against; a feature nobody
described contributes nothing (missing is not a mismatch). Every contribution comes back
with the feature's name and a human-readable detail, so an analyst sees *why*.

The default weights are reasoned estimates, not fitted values; each one says what it
assumes. They were sanity-checked on generated data (``bench/matching``), never fitted to
the truth labels there. Ethnicity is not a feature and cannot be passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz

from shopwatch.matching.blocking import force_area
from shopwatch.matching.normalise import (
    Mark,
    NormalisedOffender,
    VrmMatch,
    build_distance,
    compare_vrm,
    hair_colour_relation,
    hair_length_distance,
)
from shopwatch.matching.profiles import Profile, RangeStats, Summary

_LN2 = math.log(2)


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    """One feature's part of a score: name, weight in bits, and what was compared."""

    feature: str
    weight: float
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "weight": round(self.weight, 2), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Score:
    total: float
    contributions: tuple[FeatureContribution, ...]

    @property
    def matched_features(self) -> tuple[FeatureContribution, ...]:
        """The contributions that argued *for* the link."""
        return tuple(c for c in self.contributions if c.weight > 0)


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """Match weights in bits. Each value: log2(m/u) with the m and u it assumes."""

    # Names: a full name (2+ tokens) agreeing is rare by chance (u ~ 1/5000) and common
    # for the same person when both reports name them (m ~ 0.7).
    name_full: float = 12.0  # token-sort similarity >= 92
    name_close: float = 9.0  # >= 85: a misspelling
    # One name token agrees (a first name or surname alone): log2(m/u) by its rarity.
    name_token_m: float = 0.5
    name_token_share: float = 0.005
    name_partial_max: float = 7.0
    name_conflict: float = -2.0  # both named, nothing alike (aliases exist, so mild)
    # Registrations: u for a full plate is ~1e-6 per candidate; capped at 14 bits because
    # people share cars.
    vrm_exact: float = 14.0
    vrm_near: float = 10.0  # O/0, I/1 confusion or one character off
    vrm_partial_per_char: float = 2.0  # a partial plate: 2 bits a character, 3+ chars
    vrm_conflict: float = -2.0  # two full, unrelated plates (people change cars)
    # Distinguishing marks, per mark, best pairing; total capped. Shared values are
    # weighed by how rare they are among profiles (``rarity``: the share u of profiles
    # with that value, from the blocking index; the defaults stand in when unknown).
    mark_motif_m: float = 0.6  # P(a motif word is described alike | same mark)
    mark_motif_share: float = 0.03
    mark_motif_max: float = 8.0
    mark_region_m: float = 0.7
    mark_region_share: float = 0.2
    mark_region_max: float = 4.0
    mark_region_with_motif: float = 1.5  # region adds little once the motif agrees
    mark_region_conflict: float = -2.0
    mark_side: float = 0.5  # and the same side
    mark_side_conflict: float = -1.5
    mark_kind_only: float = 0.5  # "has tattoos" and "has tattoos"
    mark_cap: float = 12.0
    # Sex: m ~ 0.97 (witnesses rarely get it wrong), u = the share of that sex among
    # offenders (about 0.8 male). A contradiction is near-conclusive.
    sex_share_male: float = 0.8
    sex_conflict: float = -12.0
    # Age and height: Gaussian likelihood ratio of the difference between the reported
    # mid-point and the profile's mean. sd for the same person = witness error (and the
    # range widths); sd for a different person = the spread among offenders.
    age_witness_sd: float = 4.5
    age_population_sd: float = 13.0
    height_witness_sd: float = 6.0
    height_population_sd: float = 9.0
    range_floor: float = -12.0
    # Build (4 classes): same ~ m 0.7 / u 0.3; opposite ends (slim vs heavy) are rare.
    build_same: float = 1.2
    build_near: float = -0.4
    build_far: float = -3.0
    # Hair: colour is seen well unless hidden (m ~ 0.8; u ~ 0.3 for a common colour).
    hair_same: float = 1.5
    hair_near: float = -0.3
    hair_conflict: float = -2.5
    hair_length_same: float = 0.6
    hair_length_far: float = -1.5  # bald vs long
    hair_style: float = 1.0  # a style in common (ponytail, dreadlocks)
    # Clothing changes every time: shared words are weak evidence.
    clothing_per_token: float = 0.25
    clothing_cap: float = 0.75
    # Place and time: offenders return to the same stores (m ~ 0.6 that a repeat is at a
    # store the person used before; u ~ 0.1 among the local candidates).
    same_store_recent: float = 3.0  # within same_store_days of their last visit there
    same_store: float = 2.0
    same_store_days: int = 30
    same_force_recent: float = 0.5
    same_force_days: int = 14
    far_away: float = -1.5  # a force that neither they nor its neighbours saw before
    # Method: people repeat what works (m ~ 0.7, u ~ 0.25).
    same_method: float = 1.4
    same_offence: float = 0.1  # most reports are shop theft: agreeing says little
    # A store the profile never used, once it has shown a patch (>= store_patch_reports
    # reports): P(new store | same person) ~ 0.25 against ~0.9 for anyone else.
    store_new: float = -1.0
    # A store the profile never used within geography.NEAR_KM of one it did: the same patch.
    nearby_store: float = 1.5
    store_patch_reports: int = 4
    # Activity: a new report more likely comes from someone reported often and lately
    # (the prior of joining a cluster grows with its size, as in a Chinese-restaurant
    # process): activity_per_doubling bits per doubling of recent reports, capped.
    # Off by default: on generated data it pulled weak descriptions into big profiles
    # (auto-link precision 0.97 -> 0.93 at equal thresholds) without helping recall.
    activity_window_days: int = 90
    activity_per_doubling: float = 0.0
    activity_cap: float = 2.0
    stale_days: int = 180
    stale: float = 0.0  # per report not seen for stale_days (off by default, as above)


DEFAULT_WEIGHTS = ScoringWeights()


def _gaussian_llr(diff: float, var_same: float, var_pop: float, floor: float) -> float:
    """log2 N(diff; 0, var_same) / N(diff; 0, var_same + var_pop), floored.

    For the same person two descriptions differ by witness error alone (``var_same``);
    for two people the true difference (``var_pop``) adds to the same error.
    """
    var_diff = var_same + var_pop
    llr = 0.5 * math.log(var_diff / var_same) - 0.5 * diff * diff * (1 / var_same - 1 / var_diff)
    return max(floor, llr / _LN2)


def _range_weight(
    obs: tuple[int, int], stats: RangeStats, witness_sd: float, population_sd: float, floor: float
) -> tuple[float, float]:
    """(weight, difference of mid-points) for an age or height range against a profile."""
    mid = (obs[0] + obs[1]) / 2
    width = obs[1] - obs[0]
    # One witness's error, the profile mean's own error, and the vagueness of both ranges
    # (a uniform range of width w has variance w^2/12).
    swidth = stats.width_sum / stats.n
    var_same = witness_sd * witness_sd * (1 + 1 / stats.n) + (width * width + swidth * swidth) / 12
    diff = mid - stats.mid_sum / stats.n
    weight = _gaussian_llr(diff, var_same, population_sd * population_sd, floor)
    return weight, diff


def _range_detail(obs: tuple[int, int], stats: RangeStats, diff: float) -> str:
    lo, hi = stats.mid - stats.width / 2, stats.mid + stats.width / 2
    return f"{obs[0]}-{obs[1]} vs {lo:.0f}-{hi:.0f} (n={stats.n}, diff {diff:+.1f})"


def _tf_weight(u: float, m: float, lo: float, hi: float) -> float:
    """log2(m/u) clamped: the rarer the shared value, the more it says."""
    return max(lo, min(hi, math.log2(m / max(u, 1e-9))))


def _name_feature(
    names: tuple[str, ...],
    profile_names: list[str],
    w: ScoringWeights,
    rarity: Mapping[str, float],
) -> FeatureContribution | None:
    best_full = 0.0
    best_pair = ("", "")
    best_token = 0.0
    best_tok_pair = ("", "")
    for a in names:
        a_tokens = a.split()
        for b in profile_names:
            b_tokens = b.split()
            if len(a_tokens) >= 2 and len(b_tokens) >= 2:
                s = fuzz.token_sort_ratio(a, b)
                if s > best_full:
                    best_full, best_pair = s, (a, b)
            for ta in a_tokens:
                for tb in b_tokens:
                    if len(ta) < 3 or len(tb) < 3:
                        s = 100.0 if ta == tb else 0.0
                    else:
                        s = fuzz.ratio(ta, tb)
                    if s > best_token:
                        best_token, best_tok_pair = s, (ta, tb)
    if best_full >= 92:
        return FeatureContribution("name", w.name_full, f"{best_pair[0]!r} ~ {best_pair[1]!r}")
    if best_full >= 85:
        return FeatureContribution(
            "name", w.name_close, f"{best_pair[0]!r} ~ {best_pair[1]!r} ({best_full:.0f})"
        )
    if best_token >= 88:
        u = rarity.get("n:" + best_tok_pair[0], w.name_token_share)
        weight = _tf_weight(u, w.name_token_m, 1.0, w.name_partial_max)
        return FeatureContribution(
            "name", weight, f"name part {best_tok_pair[0]!r} ~ {best_tok_pair[1]!r} (u={u:.4f})"
        )
    if best_token < 60:
        return FeatureContribution("name", w.name_conflict, "names differ")
    return None


def _vrm_feature(vrm: str, profile_vrms: list[str], w: ScoringWeights) -> FeatureContribution:
    best = 0.0
    detail = ""
    full_conflict = True
    for pv in profile_vrms:
        kind, n = compare_vrm(vrm, pv)
        if kind == VrmMatch.EXACT:
            weight = w.vrm_exact if n >= 5 else min(w.vrm_exact, w.vrm_partial_per_char * n)
        elif kind == VrmMatch.NEAR:
            weight = w.vrm_near
        elif kind == VrmMatch.PARTIAL:
            weight = min(w.vrm_near, w.vrm_partial_per_char * n)
        else:
            weight = 0.0
            if len(vrm) < 5 or len(pv) < 5:
                full_conflict = False
        if weight > best:
            best, detail = weight, f"{vrm} ~ {pv} ({kind})"
    if best > 0:
        return FeatureContribution("vehicle", best, detail)
    if full_conflict:
        return FeatureContribution("vehicle", w.vrm_conflict, f"{vrm} differs")
    return FeatureContribution("vehicle", 0.0, f"{vrm} unrelated to a partial plate")


def _mark_pair(a: Mark, b: Mark, w: ScoringWeights, rarity: Mapping[str, float]) -> float:
    """Evidence that marks ``a`` (new) and ``b`` (profile) are the same mark, in bits."""
    if a.kind != b.kind:
        return 0.0
    weight = 0.0
    shared = a.motif & b.motif
    if shared:
        u = min(rarity.get(f"m:{a.kind}:{word}", w.mark_motif_share) for word in shared)
        weight += _tf_weight(u, w.mark_motif_m, 1.0, w.mark_motif_max)
    if a.region and b.region:
        if a.region == b.region:
            u = rarity.get(f"m:{a.kind}:{a.region}", w.mark_region_share)
            region = _tf_weight(u, w.mark_region_m, 0.3, w.mark_region_max)
            weight += min(region, w.mark_region_with_motif) if shared else region
            if a.side and b.side:
                weight += w.mark_side if a.side == b.side else w.mark_side_conflict
        elif shared:
            weight += w.mark_region_conflict  # the same motif elsewhere: likely another mark
    return weight if weight > 0 else w.mark_kind_only


def _marks_feature(
    marks: tuple[Mark, ...],
    profile_marks: list[Mark],
    w: ScoringWeights,
    rarity: Mapping[str, float],
) -> FeatureContribution | None:
    total = 0.0
    details: list[str] = []
    for mark in marks:
        best, best_b = 0.0, None
        for pm in profile_marks:
            s = _mark_pair(mark, pm, w, rarity)
            if s > best:
                best, best_b = s, pm
        if best_b is not None:
            total += best
            details.append(" ".join(sorted(mark.tokens() & best_b.tokens())))
    if total <= 0:
        return None
    return FeatureContribution("marks", min(total, w.mark_cap), "; ".join(details))


def score(
    off: NormalisedOffender,
    profile: Profile,
    w: ScoringWeights = DEFAULT_WEIGHTS,
    *,
    rarity: Mapping[str, float] | None = None,
    explain: bool = True,
) -> Score:
    """Score one normalised offender against one profile, with every contribution.

    ``rarity`` maps a blocking key (``n:smith``, ``m:tattoo:rose``) to the share of
    profiles that have it, for weighing agreement by how rare it is.
    ``explain=False`` skips writing the human-readable details (same weights, faster):
    the matcher scores every candidate that way and explains only the best few.
    """
    out: list[FeatureContribution] = []
    add = out.append
    summ = profile.summary()
    rarity = rarity or {}

    if off.names and profile.names:
        f = _name_feature(off.names, profile.names, w, rarity)
        if f:
            add(f)
    if off.vrm and profile.vrms:
        add(_vrm_feature(off.vrm, profile.vrms, w))
    if off.marks and profile.marks:
        f = _marks_feature(off.marks, profile.marks, w, rarity)
        if f:
            add(f)

    psex = summ.sex
    if off.sex and psex:
        if off.sex == psex:
            share = w.sex_share_male if psex == "m" else 1 - w.sex_share_male
            add(FeatureContribution("sex", math.log2(0.97 / share), f"both {psex}"))
        else:
            add(FeatureContribution("sex", w.sex_conflict, f"{off.sex} vs {psex}"))
    if off.age and profile.age:
        weight, diff = _range_weight(
            off.age, profile.age, w.age_witness_sd, w.age_population_sd, w.range_floor
        )
        detail = _range_detail(off.age, profile.age, diff) if explain else ""
        add(FeatureContribution("age", weight, detail))
    if off.height and profile.height:
        weight, diff = _range_weight(
            off.height, profile.height, w.height_witness_sd, w.height_population_sd, w.range_floor
        )
        detail = _range_detail(off.height, profile.height, diff) if explain else ""
        add(FeatureContribution("height", weight, detail))
    pbuild = summ.build
    if off.build and pbuild:
        d = build_distance(off.build, pbuild)
        weight = (w.build_same, w.build_near, w.build_far)[d]
        add(FeatureContribution("build", weight, f"{off.build} vs {pbuild}" if explain else ""))
    if off.hair:
        pcolour = summ.hair_colour
        if off.hair.colour and pcolour:
            rel = hair_colour_relation(off.hair.colour, pcolour)
            weight = {"same": w.hair_same, "near": w.hair_near}.get(rel, w.hair_conflict)
            detail = f"{off.hair.colour} vs {pcolour}" if explain else ""
            add(FeatureContribution("hair", weight, detail))
        plength = summ.hair_length
        if off.hair.length and plength:
            d = hair_length_distance(off.hair.length, plength)
            if d == 0:
                add(FeatureContribution("hair_length", w.hair_length_same, f"both {plength}"))
            elif d >= 3:
                detail = f"{off.hair.length} vs {plength}" if explain else ""
                add(FeatureContribution("hair_length", w.hair_length_far, detail))
        if off.hair.styles and profile.hair_styles:
            common = off.hair.styles & profile.hair_styles.keys()
            if common:
                add(FeatureContribution("hair_style", w.hair_style, ", ".join(sorted(common))))
    if off.clothing and profile.clothing:
        common = off.clothing & profile.clothing.keys()
        if common:
            weight = min(w.clothing_cap, w.clothing_per_token * len(common))
            add(FeatureContribution("clothing", weight, ", ".join(sorted(common))))

    _place_and_time(off, summ, w, add, explain, len(profile.members))
    if w.activity_per_doubling or w.stale:
        _activity(off, profile, w, add)

    pmethod = summ.method
    if off.method and pmethod and off.method == pmethod:
        add(FeatureContribution("method", w.same_method, off.method))
    if off.offence and profile.offences and off.offence in profile.offences:
        add(FeatureContribution("offence", w.same_offence, off.offence))

    total = 0.0
    for c in out:
        total += c.weight
    return Score(total, tuple(out))


def _place_and_time(
    off: NormalisedOffender,
    summ: Summary,
    w: ScoringWeights,
    add: Callable[[FeatureContribution], None],
    explain: bool,
    n_members: int,
) -> None:
    last_here = summ.store_last_day.get(off.store_id)
    last_force = summ.force_last_day.get(off.force)
    if last_here is not None:
        gap = abs(off.day - last_here)
        weight = w.same_store_recent if gap <= w.same_store_days else w.same_store
        add(FeatureContribution("store", weight, f"same store, {gap} days" if explain else ""))
    else:
        near = off.nearby_stores & summ.store_last_day.keys() if off.nearby_stores else ()
        if near:
            detail = f"near {', '.join(sorted(near)[:3])}" if explain else ""
            add(FeatureContribution("store", w.nearby_store, detail))
        elif n_members >= w.store_patch_reports:
            add(FeatureContribution("store", w.store_new, "a store they have not used"))
        if last_force is not None and abs(off.day - last_force) <= w.same_force_days:
            detail = f"same force, {abs(off.day - last_force)} days" if explain else ""
            add(FeatureContribution("place", w.same_force_recent, detail))
    if last_force is None and not force_area(off.force) & summ.force_last_day.keys():
        detail = f"{off.force} far from {sorted(summ.force_last_day)}" if explain else ""
        add(FeatureContribution("place", w.far_away, detail))


def _activity(
    off: NormalisedOffender,
    profile: Profile,
    w: ScoringWeights,
    add: Callable[[FeatureContribution], None],
) -> None:
    recent = 0
    last = None
    for m in profile.members:
        if 0 <= off.day - m.day <= w.activity_window_days:
            recent += 1
        if last is None or m.day > last:
            last = m.day
    if recent >= 2 and w.activity_per_doubling:
        weight = min(w.activity_cap, w.activity_per_doubling * math.log2(recent))
        add(FeatureContribution("activity", weight, f"{recent} reports in recent days"))
    elif last is not None and off.day - last > w.stale_days and w.stale:
        add(FeatureContribution("activity", w.stale, f"not seen for {off.day - last} days"))
