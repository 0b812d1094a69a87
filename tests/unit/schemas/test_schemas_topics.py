"""The topic registry: names, ownership, sizing, force topics, DLQs and prefixes."""

from __future__ import annotations

import re

import pytest

from shopwatch.schemas.events import (
    EVENT_MODELS,
    CaseRouted,
    ForceUpdate,
    ProlificOffenderFlagged,
    ReportSubmitted,
)
from shopwatch.schemas.forces import FORCE_SLUGS, UnknownForceError
from shopwatch.schemas.topics import (
    CASES_STATUS_CHANGED,
    EVIDENCE_REJECTED,
    EVIDENCE_STORED,
    MATCHING_COMPLETED,
    MATCHING_REQUESTED,
    MAX_TOPIC_NAME,
    REPORTS_SUBMITTED,
    ForceTopicKind,
    UnknownTopicError,
    all_topics,
    consumed_by,
    dlq_topic,
    force_topic,
    is_known_topic,
    produced_by,
    strip_prefix,
    topic,
    topics_for_event,
    with_prefix,
)

SERVICES = {"intake", "evidence", "routing", "matching", "notify"}


def test_required_topics_exist() -> None:
    names = {t.name for t in all_topics()}
    for name in (
        REPORTS_SUBMITTED,
        EVIDENCE_STORED,
        EVIDENCE_REJECTED,
        MATCHING_REQUESTED,
        MATCHING_COMPLETED,
        CASES_STATUS_CHANGED,
    ):
        assert name in names
        assert f"{name}.dlq" in names
    assert REPORTS_SUBMITTED == "reports.submitted.v1"
    for slug in FORCE_SLUGS:
        assert f"force.{slug}.cases.v1" in names
        assert f"force.{slug}.updates.v1" in names
        assert f"force.{slug}.updates.v1.dlq" in names


def test_counts() -> None:
    topics = all_topics()
    assert len(topics) == len({t.name for t in topics})
    static = [t for t in topics if t.force is None and not t.is_dlq]
    assert len(static) == 8
    assert len([t for t in topics if t.force and not t.is_dlq]) == 2 * 46
    assert len([t for t in topics if t.is_dlq]) == 8 + 46


def test_every_topic_is_well_formed() -> None:
    for spec in all_topics():
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", spec.name), spec.name
        assert len(spec.name) <= MAX_TOPIC_NAME
        assert spec.partitions >= 1
        assert spec.retention_ms > 0
        assert spec.config()["retention.ms"] == str(spec.retention_ms)
        assert spec.producers and spec.consumers
        assert spec.description
        if spec.is_dlq:
            assert spec.name.endswith(".dlq") and not spec.event_models
            assert spec.dlq_of is not None
            assert set(spec.producers) == set(topic(spec.dlq_of).consumers)
        else:
            assert spec.name.endswith(".v1")
            assert spec.event_models
            assert spec.key


def test_every_event_has_a_topic_and_known_services() -> None:
    for model in EVENT_MODELS:
        assert topics_for_event(model), model
    for spec in all_topics():
        for party in (*spec.producers, *spec.consumers):
            assert party in SERVICES or party == "operators" or party.startswith("force:")


def test_force_topics() -> None:
    assert force_topic("durham") == "force.durham.cases.v1"
    assert force_topic("durham", "updates") == "force.durham.updates.v1"
    assert force_topic("cleveland", ForceTopicKind.CASES) == "force.cleveland.cases.v1"
    cases = topic(force_topic("durham"))
    assert cases.event_models == (CaseRouted, ProlificOffenderFlagged)
    assert cases.producers == ("routing",)
    assert cases.consumers == ("force:durham",)
    assert not cases.has_dlq
    updates = topic(force_topic("durham", "updates"))
    assert updates.event_models == (ForceUpdate,)
    assert updates.producers == ("force:durham",)
    assert updates.key == "case_id"


@pytest.mark.parametrize("slug", ["gotham", "Durham", "psni", ""])
def test_force_topic_refuses_unknown_slugs(slug: str) -> None:
    with pytest.raises(UnknownForceError):
        force_topic(slug)


def test_force_topic_refuses_unknown_kind() -> None:
    with pytest.raises(ValueError, match="evidence"):
        force_topic("durham", "evidence")


def test_only_routing_writes_force_cases_and_reads_force_updates() -> None:
    for spec in all_topics():
        if spec.force and spec.name.endswith(".cases.v1"):
            assert spec.producers == ("routing",)
        if spec.force and spec.name.endswith(".updates.v1"):
            assert spec.consumers == ("routing",)


def test_service_views() -> None:
    assert {t.name for t in produced_by("intake")} == {REPORTS_SUBMITTED}
    consumed = {t.name for t in consumed_by("routing")}
    assert {REPORTS_SUBMITTED, EVIDENCE_STORED, MATCHING_COMPLETED} <= consumed
    assert force_topic("durham", "updates") in consumed
    assert {t.name for t in consumed_by("notify")} == {
        REPORTS_SUBMITTED,
        EVIDENCE_REJECTED,
        CASES_STATUS_CHANGED,
    }


def test_keys() -> None:
    assert topic(REPORTS_SUBMITTED).key == "report_id"
    assert topic(CASES_STATUS_CHANGED).key == "case_id"
    assert "profile_id" in topic(force_topic("durham")).key
    assert topics_for_event(ReportSubmitted)[0].name == REPORTS_SUBMITTED


def test_dlq_topic() -> None:
    assert dlq_topic(REPORTS_SUBMITTED) == "reports.submitted.v1.dlq"
    assert dlq_topic("t1.reports.submitted.v1", prefix="t1") == "t1.reports.submitted.v1.dlq"
    with pytest.raises(ValueError, match="no dead-letter topic"):
        dlq_topic("reports.submitted.v1.dlq")
    with pytest.raises(ValueError, match="no dead-letter topic"):
        dlq_topic(force_topic("durham"))
    with pytest.raises(UnknownTopicError, match="unknown topic"):
        dlq_topic("nope.v1")


def test_lookup() -> None:
    assert is_known_topic(REPORTS_SUBMITTED)
    assert not is_known_topic("reports.submitted.v2")
    with pytest.raises(UnknownTopicError):
        topic("reports.submitted.v2")


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", "reports.submitted.v1"),
        ("test-1a2b", "test-1a2b.reports.submitted.v1"),
        ("test-1a2b.", "test-1a2b.reports.submitted.v1"),
        ("ci_", "ci_reports.submitted.v1"),
    ],
)
def test_with_prefix_round_trips(prefix: str, expected: str) -> None:
    assert with_prefix(REPORTS_SUBMITTED, prefix) == expected
    assert strip_prefix(expected, prefix) == REPORTS_SUBMITTED


@pytest.mark.parametrize("prefix", ["-bad", "has space", "a/b", "x" * 61])
def test_bad_prefixes(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        with_prefix(REPORTS_SUBMITTED, prefix)


def test_strip_prefix_refuses_other_names() -> None:
    with pytest.raises(ValueError, match="does not start with"):
        strip_prefix("other.reports.submitted.v1", "mine")
