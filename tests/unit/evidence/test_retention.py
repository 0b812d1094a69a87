from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shopwatch.evidence.retention import (
    DEFAULT_POLICY,
    RetentionFacts,
    RetentionPolicy,
    expires_at,
    is_expired,
)

STORED = datetime(2026, 1, 10, tzinfo=UTC)
OUTCOME = datetime(2026, 3, 1, tzinfo=UTC)


def facts(
    offence: str = "theft_from_shop", outcome: str | None = None, **kw: object
) -> RetentionFacts:
    return RetentionFacts(
        offence_type=offence,
        outcome=outcome,
        stored_at=STORED,
        outcome_at=OUTCOME if outcome else None,
        **kw,  # type: ignore[arg-type]
    )


def test_open_cases_are_kept() -> None:
    assert expires_at(facts()) is None
    assert not is_expired(facts(), STORED + timedelta(days=365 * 50))


def test_no_further_action_expires_a_year_after_the_outcome() -> None:
    f = facts(outcome="no_further_action")
    assert expires_at(f) == OUTCOME + timedelta(days=365)
    assert not is_expired(f, OUTCOME + timedelta(days=364))
    assert is_expired(f, OUTCOME + timedelta(days=365))


def test_offence_specific_rules_beat_the_general_ones() -> None:
    assert expires_at(facts("violence_against_staff", "charged")) == OUTCOME + timedelta(days=3650)
    assert expires_at(facts("theft_from_shop", "charged")) == OUTCOME + timedelta(days=6 * 365)
    assert expires_at(facts("robbery", "no_further_action")) == OUTCOME + timedelta(days=730)


def test_unknown_outcome_falls_back_to_the_wildcard() -> None:
    assert expires_at(facts(outcome="something_new")) == OUTCOME + timedelta(days=6 * 365)


def test_legal_hold_is_never_expired() -> None:
    f = facts(outcome="no_further_action", legal_hold=True)
    assert expires_at(f) is None
    assert not is_expired(f, OUTCOME + timedelta(days=10_000))


def test_clock_starts_at_storage_when_the_outcome_date_is_unknown() -> None:
    f = RetentionFacts("theft_from_shop", "no_further_action", stored_at=STORED)
    assert expires_at(f) == STORED + timedelta(days=365)


def test_configured_policy() -> None:
    policy = RetentionPolicy.from_mapping(
        {"*": {"open": 30, "*": 90}, "fraud": {"*": None}, "theft_from_shop": {"cautioned": 7}}
    )
    assert expires_at(facts(), policy) == STORED + timedelta(days=30)
    assert expires_at(facts(outcome="charged"), policy) == OUTCOME + timedelta(days=90)
    assert expires_at(facts("fraud", "charged"), policy) is None
    assert expires_at(facts(outcome="cautioned"), policy) == OUTCOME + timedelta(days=7)
    assert RetentionPolicy({}).period_for("x", None) is None  # no rule: keep


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RetentionPolicy.from_mapping({"*": {"*": 0}})
    with pytest.raises(ValueError, match="whole days"):
        RetentionPolicy.from_mapping({"*": {"*": 1.5}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="timezone"):
        is_expired(facts(), datetime(2030, 1, 1))


def test_default_policy_is_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_POLICY.rules[("*", "*")] = None  # type: ignore[index]
