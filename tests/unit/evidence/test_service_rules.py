"""Pure rules of the use cases and the sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shopwatch.evidence import retention
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.evidence.domain import EvidenceError
from shopwatch.evidence.service import (
    FALLBACK_INITIALS,
    reporter_initials,
    validate_media_type,
    validate_stills,
)
from shopwatch.evidence.sweep import load_policy, retention_facts, shortest_period


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("Video/MP4; codecs=avc1", "video/mp4"),
        ("image/jpeg", "image/jpeg"),
        ("application/octet-stream", "application/octet-stream"),
    ],
)
def test_accepted_media_types(declared: str, expected: str) -> None:
    assert validate_media_type(declared) == expected


@pytest.mark.parametrize("declared", ["text/html", "application/x-msdownload", "video", ""])
def test_refused_media_types_name_the_field(declared: str) -> None:
    with pytest.raises(EvidenceError) as refused:
        validate_media_type(declared)
    assert refused.value.field == "media_type"


def test_stills() -> None:
    assert validate_stills([1, 2.5], 10) == [1.0, 2.5]
    for bad in ([-1.0], [float("nan")], [float("inf")]):
        with pytest.raises(EvidenceError) as refused:
            validate_stills(bad, 10)
        assert refused.value.field == "stills_at_seconds"
    with pytest.raises(EvidenceError):
        validate_stills([1.0] * 11, 10)


def test_reporter_initials() -> None:
    assert reporter_initials("Alex Morgan") == "AM"
    assert reporter_initials("李小龙") == FALLBACK_INITIALS
    assert reporter_initials(None) == FALLBACK_INITIALS


def test_retention_facts_and_policy() -> None:
    stored = datetime(2020, 1, 1, tzinfo=UTC)
    facts = retention_facts(
        {"stored_at": stored, "created_at": stored},
        {"offence_type": "robbery", "outcome": "charged", "outcome_at": stored},
    )
    assert (facts.offence_type, facts.outcome) == ("robbery", "charged")
    assert retention_facts({"created_at": stored}, None).offence_type == retention.ANY
    assert shortest_period(retention.DEFAULT_POLICY) == timedelta(days=365)
    custom = load_policy(EvidenceSettings(retention_policy_json='{"*": {"*": 30}}'))
    assert custom.period_for("theft_from_shop", None) == timedelta(days=30)
    assert load_policy(EvidenceSettings()) is retention.DEFAULT_POLICY
    held = retention_facts(
        {"stored_at": stored, "created_at": stored, "legal_hold_order": True}, {}
    )
    assert not retention.is_expired(held, datetime(2040, 1, 1, tzinfo=UTC), custom)
