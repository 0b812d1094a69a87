"""The prolific-offender rule, and what each force may see of a profile.

A profile is *prolific* when it has at least ``min_reports`` reports within
``window_days`` days, or reports in at least ``min_stores`` different stores. Each rule
flags once when it is crossed; the 90-day rule can be crossed again after the profile has
dropped below it (a new spree). Once prolific, a force the profile reaches for the first
time is told too. The flag goes to every force whose area the profile touches (the forces
of its reports).

A force sees the count and ids of linked cases in other forces, and details (stores,
dates, offence, method) only of its own: ``force_view`` builds that view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from shopwatch.matching.profiles import Profile

RULE_REPORTS_IN_WINDOW = "reports_in_window"
RULE_STORES = "stores"
REASON_NEW_FORCE = "new_force"


@dataclass(frozen=True, slots=True)
class ProlificRule:
    min_reports: int = 5
    window_days: int = 90
    min_stores: int = 3

    def __post_init__(self) -> None:
        if self.min_reports < 2 or self.window_days < 1 or self.min_stores < 2:
            raise ValueError(
                "prolific rule needs min_reports >= 2, window_days >= 1, min_stores >= 2"
            )


@dataclass(frozen=True, slots=True)
class ProlificFlag:
    """Tell these forces that this profile has become prolific, and why."""

    profile_id: str
    reasons: tuple[str, ...]
    forces: tuple[str, ...]
    report_count: int
    store_count: int
    max_reports_in_window: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "reasons": list(self.reasons),
            "forces": list(self.forces),
            "report_count": self.report_count,
            "store_count": self.store_count,
            "max_reports_in_window": self.max_reports_in_window,
        }


def max_reports_in_window(profile: Profile, window_days: int) -> int:
    """The most distinct reports in any ``window_days``-day window (two pointers)."""
    first_day: dict[str, int] = {}
    for m in profile.members:
        d = first_day.get(m.report_id)
        if d is None or m.day < d:
            first_day[m.report_id] = m.day
    days = sorted(first_day.values())
    best = lo = 0
    for hi, day in enumerate(days):
        while day - days[lo] >= window_days:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def check_prolific(profile: Profile, rule: ProlificRule) -> ProlificFlag | None:
    """Update the profile's prolific state; a flag when a rule is newly crossed.

    Call after every change to the profile. Idempotent: calling again without a change
    returns ``None``.
    """
    in_window = max_reports_in_window(profile, rule.window_days)
    # The 90-day rule looks at the window ending with the latest report, so a profile
    # that went quiet drops below it and can cross it again later.
    latest = max((m.day for m in profile.members), default=0)
    recent = {m.report_id for m in profile.members if latest - m.day < rule.window_days}
    stores = {m.store_id for m in profile.members}
    crossed: list[str] = []
    if len(recent) >= rule.min_reports:
        crossed.append(RULE_REPORTS_IN_WINDOW)
    if len(stores) >= rule.min_stores:
        crossed.append(RULE_STORES)

    before = set(profile.prolific_rules or ())
    newly = [r for r in crossed if r not in before]
    profile.prolific_rules = crossed or None
    forces = list(dict.fromkeys(m.force for m in profile.members))
    told = set(profile.notified_forces or ())
    if newly:
        targets = forces
        reasons = tuple(newly)
    elif crossed and any(f not in told for f in forces):
        targets = [f for f in forces if f not in told]
        reasons = (REASON_NEW_FORCE,)
    else:
        return None
    profile.notified_forces = sorted(told | set(targets))
    return ProlificFlag(
        profile_id=profile.profile_id,
        reasons=reasons,
        forces=tuple(targets),
        report_count=len({m.report_id for m in profile.members}),
        store_count=len(stores),
        max_reports_in_window=in_window,
    )


@dataclass(frozen=True, slots=True)
class CaseDetail:
    report_id: str
    offender_index: int
    store_id: str
    date: str
    offence: str | None
    method: str | None


@dataclass(frozen=True, slots=True)
class ForceView:
    """What one force may see of a profile."""

    profile_id: str
    force: str
    own_cases: tuple[CaseDetail, ...]
    other_forces: dict[str, tuple[str, ...]]  # force -> report ids only
    total_reports: int
    prolific: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "force": self.force,
            "own_cases": [
                {
                    "report_id": c.report_id,
                    "offender_index": c.offender_index,
                    "store_id": c.store_id,
                    "date": c.date,
                    "offence": c.offence,
                    "method": c.method,
                }
                for c in self.own_cases
            ],
            "other_forces": {f: list(ids) for f, ids in self.other_forces.items()},
            "linked_cases_in_other_forces": sum(len(v) for v in self.other_forces.values()),
            "total_reports": self.total_reports,
            "prolific": self.prolific,
        }


def force_view(profile: Profile, force: str) -> ForceView:
    """The profile as ``force`` may see it: its own cases in full, others as ids only.

    No trait aggregates are included: they mix descriptions from every force.
    """
    own: list[CaseDetail] = []
    others: dict[str, list[str]] = {}
    for m in profile.members:
        if m.force == force:
            own.append(
                CaseDetail(
                    m.report_id,
                    m.offender_index,
                    m.store_id,
                    date.fromordinal(m.day).isoformat(),
                    m.offence,
                    m.method,
                )
            )
        else:
            ids = others.setdefault(m.force, [])
            if m.report_id not in ids:
                ids.append(m.report_id)
    return ForceView(
        profile_id=profile.profile_id,
        force=force,
        own_cases=tuple(own),
        other_forces={f: tuple(ids) for f, ids in sorted(others.items())},
        total_reports=len({m.report_id for m in profile.members}),
        prolific=bool(profile.prolific_rules),
    )
