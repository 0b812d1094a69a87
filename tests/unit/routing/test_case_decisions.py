"""Routing's pure case decisions: open, evidence, matching, prolific, force updates."""

from datetime import UTC, datetime

from shopwatch.routing.case import (
    CaseState,
    add_evidence,
    apply_force_update,
    apply_matching,
    empty_case,
    mark_prolific,
    open_case,
)
from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.enums import IcCode, LinkStatus, Priority, PriorityReasonCode, UpdateKind
from shopwatch.schemas.events import (
    CaseRouted,
    CaseStatusChanged,
    EvidenceStored,
    ForceUpdate,
    MatchingCompleted,
    MatchingRequested,
    OffenderLinkDecided,
    ProlificOffenderFlagged,
    ReportSubmitted,
)
from shopwatch.schemas.examples import example_event

NOW = datetime(2026, 1, 29, 12, 0, tzinfo=UTC)


def submitted(**report_changes: object) -> ReportSubmitted:
    event = example_event(ReportSubmitted)
    report = event.report.model_copy(update=report_changes)
    return event.model_copy(update={"report": report})


def routed_case() -> CaseState:
    event = submitted()
    return open_case(empty_case(event.report_id), event, NOW).state


def test_open_case_routes_to_the_postcode_force_and_announces() -> None:
    event = submitted()
    decision = open_case(empty_case(event.report_id), event, NOW)
    state = decision.state
    assert state.status == CaseStatus.ROUTED and state.force == "durham"
    topics = [a.topic for a in decision.announcements]
    assert topics == ["force.durham.cases.v1", "cases.status-changed.v1", "matching.requested.v1"]
    routed = decision.announcements[0].event
    assert isinstance(routed, CaseRouted) and routed.sequence == 1
    assert state.sequence == 1 and state.status_sequence == 1


def test_redelivered_report_changes_nothing() -> None:
    event = submitted()
    state = open_case(empty_case(event.report_id), event, NOW).state
    again = open_case(state, event, NOW)
    assert again.state == state and again.announcements == []


def test_matching_request_never_carries_ethnicity() -> None:
    event = submitted()
    offenders = [o.model_copy(update={"ic_code": IcCode("IC1")}) for o in event.report.offenders]
    event = event.model_copy(
        update={"report": event.report.model_copy(update={"offenders": offenders})}
    )
    decision = open_case(empty_case(event.report_id), event, NOW)
    request = decision.announcements[-1].event
    assert isinstance(request, MatchingRequested)
    assert all(o.ic_code is None for o in request.offenders)


def test_unroutable_postcode_is_visible_not_dropped() -> None:
    event = submitted()
    store = event.store.model_copy(update={"postcode": "JE2 3AB", "force_override": None})
    event = event.model_copy(update={"store": store})
    decision = open_case(empty_case(event.report_id), event, NOW)
    assert decision.state.status == CaseStatus.UNROUTABLE
    assert decision.state.unroutable_reason and "JE2 3AB" in decision.state.unroutable_reason
    (announcement,) = decision.announcements
    assert isinstance(announcement.event, CaseStatusChanged)
    assert announcement.event.status == CaseStatus.UNROUTABLE


def test_evidence_before_report_is_kept_and_sent_with_the_first_package() -> None:
    stored = example_event(EvidenceStored)
    early = add_evidence(empty_case(stored.report_id), stored, NOW)
    assert early.announcements == [] and len(early.state.evidence) == 1
    event = submitted().model_copy(update={"report_id": stored.report_id})
    decision = open_case(early.state, event, NOW)
    routed = decision.announcements[0].event
    assert isinstance(routed, CaseRouted) and routed.evidence[0].sha256 == stored.sha256
    assert PriorityReasonCode.EVIDENCE_AVAILABLE in [r.code for r in routed.priority_reasons]


def test_evidence_after_routing_republishes_with_a_higher_sequence_once() -> None:
    state = routed_case()
    stored = example_event(EvidenceStored).model_copy(update={"report_id": state.report_id})
    decision = add_evidence(state, stored, NOW)
    (announcement,) = decision.announcements
    assert isinstance(announcement.event, CaseRouted) and announcement.event.sequence == 2
    assert add_evidence(decision.state, stored, NOW).announcements == []


def test_matching_and_prolific_raise_priority() -> None:
    state = routed_case()
    completed = example_event(MatchingCompleted).model_copy(update={"case_id": state.case_id})
    after_matching = apply_matching(state, completed, NOW).state
    flagged = example_event(ProlificOffenderFlagged)
    decision = mark_prolific(after_matching, flagged, NOW)
    routed = decision.announcements[0].event
    assert isinstance(routed, CaseRouted)
    assert PriorityReasonCode.PROLIFIC_OFFENDER in [r.code for r in routed.priority_reasons]
    assert Priority(routed.priority).rank <= Priority.HIGH.rank
    assert mark_prolific(decision.state, flagged, NOW).announcements == []


def force_update(kind: UpdateKind, force: str = "durham", **fields: object) -> ForceUpdate:
    body = {"case_id": "c", "force": force, "kind": kind, "updated_at": NOW, **fields}
    return ForceUpdate.model_validate(body)


def test_force_update_moves_status_and_announces_it() -> None:
    state = routed_case()
    decision = apply_force_update(
        state, force_update(UpdateKind.CRIME_RECORDED, crime_reference="12/345/26"), "durham", NOW
    )
    assert decision.refusal is None
    (announcement,) = decision.announcements
    change = announcement.event
    assert isinstance(change, CaseStatusChanged)
    assert change.status == CaseStatus.CRIME_RECORDED and change.crime_reference == "12/345/26"
    assert change.sequence == 2


def test_another_forces_update_is_refused() -> None:
    state = routed_case()
    decision = apply_force_update(
        state, force_update(UpdateKind.ACKNOWLEDGED, "cleveland"), "cleveland", NOW
    )
    assert decision.refusal and "not cleveland's case" in decision.refusal
    assert decision.state == state


def test_force_name_must_match_its_topic() -> None:
    decision = apply_force_update(
        routed_case(), force_update(UpdateKind.ACKNOWLEDGED), "cleveland", NOW
    )
    assert decision.refusal and "topic" in decision.refusal


def test_impossible_transition_is_refused() -> None:
    state = routed_case()
    closed = apply_force_update(state, force_update(UpdateKind.CLOSED), "durham", NOW).state
    decision = apply_force_update(closed, force_update(UpdateKind.ACKNOWLEDGED), "durham", NOW)
    assert decision.refusal is not None and decision.announcements == []


def test_update_for_unknown_case_is_refused() -> None:
    decision = apply_force_update(
        empty_case("nope"), force_update(UpdateKind.ACKNOWLEDGED), "durham", NOW
    )
    assert decision.refusal and "unknown case" in decision.refusal


def test_link_decision_goes_to_matching_without_ethnicity() -> None:
    state = apply_matching(
        routed_case(), example_event(MatchingCompleted).model_copy(update={"case_id": "c"}), NOW
    ).state
    link = state.offender_links[0]
    for kind, decided in (
        (UpdateKind.LINK_REJECTED, LinkStatus.REJECTED),
        (UpdateKind.LINK_CONFIRMED, LinkStatus.CONFIRMED),
    ):
        update = force_update(kind, link={"offender_index": 0, "profile_id": link.profile_id})
        decision = apply_force_update(state, update, "durham", NOW)
        assert decision.refusal is None
        assert [a.topic for a in decision.announcements] == [
            "force.durham.cases.v1",
            "matching.link-decided.v1",
        ]
        routed, event = (a.event for a in decision.announcements)
        assert isinstance(routed, CaseRouted) and routed.offender_links[0].status == decided
        assert isinstance(event, OffenderLinkDecided)
        assert (event.report_id, event.offender_index, event.profile_id, event.decision) == (
            state.report_id,
            0,
            link.profile_id,
            decided,
        )
        assert state.report is not None and state.report.offenders[0].ic_code is not None
        assert event.offender is not None and event.offender.ic_code is None
        assert event.offender.name == state.report.offenders[0].name


def test_link_decision_on_an_offender_the_report_lacks_is_refused() -> None:
    state = routed_case()
    update = force_update(
        UpdateKind.LINK_CONFIRMED, link={"offender_index": 7, "profile_id": "prof-1"}
    )
    decision = apply_force_update(state, update, "durham", NOW)
    assert decision.refusal and "no such offender" in decision.refusal
    assert decision.announcements == []
