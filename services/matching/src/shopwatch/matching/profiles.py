"""Offender profiles: the people we believe we have seen, as clusters of described offenders.

A ``Profile`` is a plain slotted dataclass of JSON-friendly values so a MongoDB adapter can
store ``to_dict()`` and rebuild with ``from_dict()``. Change it through its methods (and
the two prolific fields): the matcher's table keeps most profiles packed and relies on
``version`` to know which ones it handed out were changed. It keeps *aggregates* of what
witnesses said (counts and running means), not every description: scoring compares a new
description with the aggregate, and memory stays small with a million profiles (empty
aggregates are ``None`` rather than empty containers for the same reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shopwatch.matching.normalise import Hair, Mark, NormalisedOffender

MAX_NAMES = 12
MAX_VRMS = 6
MAX_MARKS = 12
MAX_CLOTHING = 40


@dataclass(frozen=True, slots=True)
class Member:
    """One described offender that belongs to a profile: where, when, what they did."""

    report_id: str
    offender_index: int
    store_id: str
    force: str
    day: int  # proleptic Gregorian ordinal (date.toordinal)
    offence: str | None = None
    method: str | None = None

    @property
    def ref(self) -> tuple[str, int]:
        return (self.report_id, self.offender_index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "offender_index": self.offender_index,
            "store_id": self.store_id,
            "force": self.force,
            "date": date.fromordinal(self.day).isoformat(),
            "offence": self.offence,
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Member:
        return cls(
            report_id=str(raw["report_id"]),
            offender_index=int(raw["offender_index"]),
            store_id=str(raw["store_id"]),
            force=str(raw["force"]),
            day=date.fromisoformat(str(raw["date"])).toordinal(),
            offence=raw.get("offence"),
            method=raw.get("method"),
        )


def _bump(counts: dict[str, int] | None, key: str | None) -> dict[str, int] | None:
    if key is None:
        return counts
    counts = counts if counts is not None else {}
    counts[key] = counts.get(key, 0) + 1
    return counts


def _unbump(counts: dict[str, int] | None, key: str | None) -> dict[str, int] | None:
    if key is None or not counts or key not in counts:
        return counts
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
    return counts or None


def _mode(counts: dict[str, int] | None) -> str | None:
    if not counts:
        return None
    if len(counts) == 1:  # most profiles: one report, one value (no max needed)
        for key in counts:
            return key
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]


@dataclass(slots=True)
class RangeStats:
    """Running mean of range mid-points and widths (ages or heights) seen for a profile."""

    n: int = 0
    mid_sum: float = 0.0
    width_sum: float = 0.0

    def add(self, lo: int, hi: int) -> None:
        self.n += 1
        self.mid_sum += (lo + hi) / 2
        self.width_sum += hi - lo

    @property
    def mid(self) -> float:
        return self.mid_sum / self.n

    @property
    def width(self) -> float:
        return self.width_sum / self.n

    def merge(self, other: RangeStats) -> None:
        self.n += other.n
        self.mid_sum += other.mid_sum
        self.width_sum += other.width_sum

    def to_list(self) -> list[float]:
        return [self.n, self.mid_sum, self.width_sum]


@dataclass(frozen=True, slots=True)
class Summary:
    """What scoring reads of a profile, derived once per change (not stored)."""

    sex: str | None
    build: str | None
    hair_colour: str | None
    hair_length: str | None
    method: str | None
    store_last_day: dict[str, int]
    force_last_day: dict[str, int]


@dataclass(slots=True)
class Profile:
    """A person we believe we have seen, built from the offenders linked to them."""

    profile_id: str
    members: list[Member] = field(default_factory=list)
    sex_m: int = 0
    sex_f: int = 0
    age: RangeStats | None = None
    height: RangeStats | None = None
    build: dict[str, int] | None = None
    hair_colour: dict[str, int] | None = None
    hair_length: dict[str, int] | None = None
    hair_styles: dict[str, int] | None = None
    names: list[str] | None = None
    vrms: list[str] | None = None
    marks: list[Mark] | None = None
    clothing: dict[str, int] | None = None
    methods: dict[str, int] | None = None
    offences: dict[str, int] | None = None
    # Prolific state: which rules are currently crossed, and the forces already told.
    prolific_rules: list[str] | None = None
    notified_forces: list[str] | None = None
    _summary: Summary | None = field(default=None, repr=False, compare=False)
    # Counts the changes made through the methods below, so a store of profiles can tell
    # a profile it handed out is unchanged without comparing it (see ``compact``).
    version: int = field(default=0, repr=False, compare=False)

    def summary(self) -> Summary:
        if self._summary is None:
            members = self.members
            if len(members) == 1:  # most profiles: no comparisons needed
                m = members[0]
                seen = m.day > -1  # as the loop below decides for a first visit
                store_last = {m.store_id: m.day} if seen else {}
                force_last = {m.force: m.day} if seen else {}
            else:
                store_last, force_last = {}, {}
                for m in members:
                    if store_last.get(m.store_id, -1) < m.day:
                        store_last[m.store_id] = m.day
                    if force_last.get(m.force, -1) < m.day:
                        force_last[m.force] = m.day
            self._summary = Summary(
                self.sex,
                _mode(self.build),
                _mode(self.hair_colour),
                _mode(self.hair_length),
                _mode(self.methods),
                store_last,
                force_last,
            )
        return self._summary

    # --- derived views --------------------------------------------------------------

    @property
    def sex(self) -> str | None:
        """``m``/``f`` by clear majority of the witnesses who said; ``None`` if unsure."""
        if self.sex_m > 2 * self.sex_f:
            return "m"
        if self.sex_f > 2 * self.sex_m:
            return "f"
        return None

    @property
    def report_ids(self) -> list[str]:
        return list(dict.fromkeys(m.report_id for m in self.members))

    @property
    def stores(self) -> list[str]:
        return list(dict.fromkeys(m.store_id for m in self.members))

    @property
    def forces(self) -> list[str]:
        return list(dict.fromkeys(m.force for m in self.members))

    @property
    def first_day(self) -> int:
        return min(m.day for m in self.members)

    @property
    def last_day(self) -> int:
        return max(m.day for m in self.members)

    @property
    def build_mode(self) -> str | None:
        return _mode(self.build)

    @property
    def hair_colour_mode(self) -> str | None:
        return _mode(self.hair_colour)

    @property
    def hair_length_mode(self) -> str | None:
        return _mode(self.hair_length)

    @property
    def method_mode(self) -> str | None:
        return _mode(self.methods)

    def last_day_at(self, store_id: str) -> int | None:
        days = [m.day for m in self.members if m.store_id == store_id]
        return max(days) if days else None

    # --- updates ----------------------------------------------------------------------

    def add(self, off: NormalisedOffender, member: Member) -> None:
        """Fold one linked offender into the aggregates."""
        self._summary = None
        self.version += 1
        self.members.append(member)
        if off.sex == "m":
            self.sex_m += 1
        elif off.sex == "f":
            self.sex_f += 1
        if off.age:
            self.age = self.age or RangeStats()
            self.age.add(*off.age)
        if off.height:
            self.height = self.height or RangeStats()
            self.height.add(*off.height)
        self.build = _bump(self.build, off.build)
        if off.hair:
            self.hair_colour = _bump(self.hair_colour, off.hair.colour)
            self.hair_length = _bump(self.hair_length, off.hair.length)
            for style in off.hair.styles:
                self.hair_styles = _bump(self.hair_styles, style)
        for name in off.names:
            self.names = self.names or []
            if name not in self.names and len(self.names) < MAX_NAMES:
                self.names.append(name)
        if off.vrm:
            self.vrms = self.vrms or []
            if off.vrm not in self.vrms and len(self.vrms) < MAX_VRMS:
                self.vrms.append(off.vrm)
        for mark in off.marks:
            self.marks = self.marks or []
            if mark not in self.marks and len(self.marks) < MAX_MARKS:
                self.marks.append(mark)
        for token in off.clothing:
            if self.clothing is None or token in self.clothing or len(self.clothing) < MAX_CLOTHING:
                self.clothing = _bump(self.clothing, token)
        self.methods = _bump(self.methods, off.method)
        self.offences = _bump(self.offences, off.offence)

    def remove(self, off: NormalisedOffender, member: Member) -> None:
        """Take one offender back out (a force rejected the link).

        Counts and ranges are exact; names, plates and marks stay, since the profile does
        not record which description brought them.
        """
        self._summary = None
        self.version += 1
        self.members.remove(member)
        if off.sex == "m":
            self.sex_m = max(0, self.sex_m - 1)
        elif off.sex == "f":
            self.sex_f = max(0, self.sex_f - 1)
        for attr, rng in (("age", off.age), ("height", off.height)):
            stats: RangeStats | None = getattr(self, attr)
            if rng and stats:
                if stats.n <= 1:
                    setattr(self, attr, None)
                else:
                    stats.n -= 1
                    stats.mid_sum -= (rng[0] + rng[1]) / 2
                    stats.width_sum -= rng[1] - rng[0]
        self.build = _unbump(self.build, off.build)
        if off.hair:
            self.hair_colour = _unbump(self.hair_colour, off.hair.colour)
            self.hair_length = _unbump(self.hair_length, off.hair.length)
            for style in off.hair.styles:
                self.hair_styles = _unbump(self.hair_styles, style)
        for token in off.clothing:
            self.clothing = _unbump(self.clothing, token)
        self.methods = _unbump(self.methods, off.method)
        self.offences = _unbump(self.offences, off.offence)

    def detach(self, member: Member) -> None:
        """Drop a member without its description (its traits stay in the aggregates)."""
        self._summary = None
        self.version += 1
        self.members.remove(member)

    def absorb(self, other: Profile) -> None:
        """Merge ``other`` into this profile (a force confirmed they are one person)."""
        self._summary = None
        self.version += 1
        self.members.extend(other.members)
        self.sex_m += other.sex_m
        self.sex_f += other.sex_f
        for attr in ("age", "height"):
            theirs: RangeStats | None = getattr(other, attr)
            if theirs is not None:
                mine: RangeStats | None = getattr(self, attr)
                if mine is None:
                    setattr(self, attr, RangeStats(theirs.n, theirs.mid_sum, theirs.width_sum))
                else:
                    mine.merge(theirs)
        for attr in (
            "build",
            "hair_colour",
            "hair_length",
            "hair_styles",
            "clothing",
            "methods",
            "offences",
        ):
            theirs_c: dict[str, int] | None = getattr(other, attr)
            if theirs_c:
                mine_c: dict[str, int] = getattr(self, attr) or {}
                for k, v in theirs_c.items():
                    mine_c[k] = mine_c.get(k, 0) + v
                setattr(self, attr, mine_c)
        for attr, cap in (("names", MAX_NAMES), ("vrms", MAX_VRMS), ("marks", MAX_MARKS)):
            theirs_l: list[Any] | None = getattr(other, attr)
            if theirs_l:
                mine_l: list[Any] = getattr(self, attr) or []
                for v in theirs_l:
                    if v not in mine_l and len(mine_l) < cap:
                        mine_l.append(v)
                setattr(self, attr, mine_l)

    # --- persistence ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (what a MongoDB adapter stores)."""
        return {
            "profile_id": self.profile_id,
            "members": [m.to_dict() for m in self.members],
            "sex_m": self.sex_m,
            "sex_f": self.sex_f,
            "age": self.age.to_list() if self.age else None,
            "height": self.height.to_list() if self.height else None,
            "build": self.build,
            "hair_colour": self.hair_colour,
            "hair_length": self.hair_length,
            "hair_styles": self.hair_styles,
            "names": self.names,
            "vrms": self.vrms,
            "marks": [m.to_list() for m in self.marks] if self.marks else None,
            "clothing": self.clothing,
            "methods": self.methods,
            "offences": self.offences,
            "prolific_rules": self.prolific_rules,
            "notified_forces": self.notified_forces,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Profile:
        def stats(v: Any) -> RangeStats | None:
            return RangeStats(int(v[0]), float(v[1]), float(v[2])) if v else None

        return cls(
            profile_id=str(raw["profile_id"]),
            members=[Member.from_dict(m) for m in raw.get("members", [])],
            sex_m=int(raw.get("sex_m", 0)),
            sex_f=int(raw.get("sex_f", 0)),
            age=stats(raw.get("age")),
            height=stats(raw.get("height")),
            build=raw.get("build"),
            hair_colour=raw.get("hair_colour"),
            hair_length=raw.get("hair_length"),
            hair_styles=raw.get("hair_styles"),
            names=raw.get("names"),
            vrms=raw.get("vrms"),
            marks=[Mark.from_list(m) for m in raw["marks"]] if raw.get("marks") else None,
            clothing=raw.get("clothing"),
            methods=raw.get("methods"),
            offences=raw.get("offences"),
            prolific_rules=raw.get("prolific_rules"),
            notified_forces=raw.get("notified_forces"),
        )


def hair_of(profile: Profile) -> Hair | None:
    """The profile's most-reported hair, in the same shape as a new description's."""
    colour, length = profile.hair_colour_mode, profile.hair_length_mode
    if colour is None and length is None:
        return None
    return Hair(colour, length, frozenset(profile.hair_styles or ()))
