"""How long evidence is kept, by offence type and case outcome. Pure.

The sweep asks ``is_expired`` for each stored item; expired masters and derivatives are
deleted and the deletion is written to the continuity log (the log itself is kept).

The table is configuration: ``RetentionPolicy.from_mapping`` reads
``{offence_type: {outcome: days | None}}`` where ``"*"`` matches anything and ``None``
means "keep". Rules are looked up most specific first:
``(offence, outcome)``, ``(offence, *)``, ``(*, outcome)``, ``(*, *)``.

The clock starts at the outcome (when there is one) or at storage. A case with no
outcome yet is ``"open"``. Evidence under a legal hold is never expired.

The default periods are placeholders modelled on police practice (MoPI review
periods: about 6 years for most offences, 10 for violence; short retention when
police take no further action, as the CPIA duty to retain then lapses); the data
controller sets the real ones through configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

ANY = "*"
OPEN = "open"  # no outcome recorded yet

Period = timedelta | None  # None: keep until a rule says otherwise


@dataclass(frozen=True)
class RetentionFacts:
    offence_type: str
    outcome: str | None  # e.g. "charged", "no_further_action"; None while open
    stored_at: datetime
    outcome_at: datetime | None = None
    legal_hold: bool = False


@dataclass(frozen=True)
class RetentionPolicy:
    rules: Mapping[tuple[str, str], Period]

    def __post_init__(self) -> None:
        for key, period in self.rules.items():
            if period is not None and period <= timedelta(0):
                raise ValueError(f"retention period for {key} must be positive")
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Mapping[str, int | None]]) -> RetentionPolicy:
        """``{"*": {"no_further_action": 365, "*": 2190}, "robbery": {"*": 3650}}`` (days)."""
        rules: dict[tuple[str, str], Period] = {}
        for offence, by_outcome in mapping.items():
            for outcome, days in by_outcome.items():
                if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
                    raise ValueError(f"retention for {offence}/{outcome} must be whole days")
                rules[(offence, outcome)] = None if days is None else timedelta(days=days)
        return cls(rules)

    def period_for(self, offence_type: str, outcome: str | None) -> Period:
        outcome_key = outcome or OPEN
        for key in (
            (offence_type, outcome_key),
            (offence_type, ANY),
            (ANY, outcome_key),
            (ANY, ANY),
        ):
            if key in self.rules:
                return self.rules[key]
        return None  # no rule at all: keep


_YEAR = 365

DEFAULT_POLICY = RetentionPolicy.from_mapping(
    {
        ANY: {
            OPEN: None,  # never delete evidence for a live case
            "no_further_action": 1 * _YEAR,
            "community_resolution": 2 * _YEAR,
            "cautioned": 6 * _YEAR,
            "charged": 6 * _YEAR,
            ANY: 6 * _YEAR,
        },
        "violence_against_staff": {OPEN: None, "no_further_action": 2 * _YEAR, ANY: 10 * _YEAR},
        "robbery": {OPEN: None, "no_further_action": 2 * _YEAR, ANY: 10 * _YEAR},
    }
)


def expires_at(facts: RetentionFacts, policy: RetentionPolicy = DEFAULT_POLICY) -> datetime | None:
    """When the evidence may be deleted, or ``None`` if it is to be kept."""
    if facts.legal_hold:
        return None
    period = policy.period_for(facts.offence_type, facts.outcome)
    if period is None:
        return None
    start = facts.outcome_at if facts.outcome is not None and facts.outcome_at else facts.stored_at
    return start + period


def is_expired(
    facts: RetentionFacts, now: datetime, policy: RetentionPolicy = DEFAULT_POLICY
) -> bool:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    deadline = expires_at(facts, policy)
    return deadline is not None and now >= deadline
