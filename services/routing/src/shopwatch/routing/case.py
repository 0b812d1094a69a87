"""A case's state and every decision routing takes about it. Pure: no I/O, no clock.

Each decision takes the current state and one event and returns the new state plus the
events that announce the change (to be written together, through the outbox), or a
refusal with its reason. The service layer loads, calls one of these, and saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shopwatch.routing.force_choice import choose_force
from shopwatch.routing.priority import PriorityFacts, prioritise
from shopwatch.schemas.case_status import CaseStatus, InvalidTransitionError, next_status
from shopwatch.schemas.enums import LinkStatus, Priority, RoutingBasis, UpdateKind
from shopwatch.schemas.events import (
    CaseRouted,
    CaseStatusChanged,
    Event,
    EvidenceRef,
    EvidenceStored,
    ForceUpdate,
    MatchingCompleted,
    MatchingRequested,
    OffenderLink,
    OffenderLinkDecided,
    PriorityReason,
    ProlificOffenderFlagged,
    ReportSubmitted,
)
from shopwatch.schemas.report import Report, StoreSnapshot
from shopwatch.schemas.sensitive import strip_sensitive
from shopwatch.schemas.topics import (
    CASES_STATUS_CHANGED,
    MATCHING_LINK_DECIDED,
    MATCHING_REQUESTED,
    ForceTopicKind,
    force_topic,
)


class CaseState(BaseModel):
    """What routing keeps per case (one per report; the case id is the report id)."""

    model_config = ConfigDict(extra="ignore")

    case_id: str
    report_id: str
    reference: str | None = None
    retailer_id: str | None = None
    store: StoreSnapshot | None = None
    report: Report | None = None
    submitted_at: datetime | None = None
    force: str | None = None
    routing_basis: RoutingBasis | None = None
    unroutable_reason: str | None = None
    status: CaseStatus | None = None  # None: evidence arrived before the report
    priority: Priority | None = None
    priority_reasons: list[PriorityReason] = []
    evidence: list[EvidenceRef] = []
    offender_links: list[OffenderLink] = []
    prolific_profile_ids: list[str] = []
    sequence: int = 0  # of the last CaseRouted published
    status_sequence: int = 0  # of the last CaseStatusChanged published
    crime_reference: str | None = None

    @property
    def has_report(self) -> bool:
        return self.report is not None


@dataclass(frozen=True)
class Announcement:
    topic: str  # logical name; the service adds the deployment's prefix
    event: Event


@dataclass(frozen=True)
class Decision:
    state: CaseState
    announcements: list[Announcement] = field(default_factory=list)
    refusal: str | None = None


def empty_case(case_id: str) -> CaseState:
    return CaseState(case_id=case_id, report_id=case_id)


def open_case(state: CaseState, submitted: ReportSubmitted, now: datetime) -> Decision:
    if state.has_report:
        return Decision(state)  # a redelivered report: nothing new
    state = state.model_copy(
        update={
            "reference": submitted.reference,
            "retailer_id": submitted.retailer_id,
            "store": submitted.store,
            "report": submitted.report,
            "submitted_at": submitted.submitted_at,
            "status": CaseStatus.SUBMITTED,
        }
    )
    choice = choose_force(submitted.store)
    if choice.force is None or choice.basis is None:
        state = state.model_copy(
            update={"status": CaseStatus.UNROUTABLE, "unroutable_reason": choice.explanation}
        )
        return Decision(state, [_status_changed(state, CaseStatus.SUBMITTED, now)])
    state = _reprioritised(
        state.model_copy(
            update={
                "force": choice.force,
                "routing_basis": choice.basis,
                "status": CaseStatus.ROUTED,
            }
        )
    )
    announcements = [_case_routed(state, now), _status_changed(state, CaseStatus.SUBMITTED, now)]
    state = state.model_copy(
        update={"sequence": state.sequence + 1, "status_sequence": state.status_sequence + 1}
    )
    if submitted.report.offenders:
        announcements.append(Announcement(MATCHING_REQUESTED, _matching_request(state, submitted)))
    return Decision(state, announcements)


def add_evidence(state: CaseState, stored: EvidenceStored, now: datetime) -> Decision:
    if any(e.evidence_id == stored.evidence_id for e in state.evidence):
        return Decision(state)
    ref = EvidenceRef(
        evidence_id=stored.evidence_id,
        exhibit_ref=stored.exhibit_ref,
        file_name=stored.file_name,
        media_type=stored.media_type,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        media=stored.media,
        derivatives=stored.derivatives,
        stored_at=stored.stored_at,
    )
    state = state.model_copy(update={"evidence": [*state.evidence, ref]})
    return _republished(state, now)


def apply_matching(state: CaseState, completed: MatchingCompleted, now: datetime) -> Decision:
    state = state.model_copy(
        update={
            "offender_links": completed.links,
            "prolific_profile_ids": sorted(
                set(state.prolific_profile_ids) | set(completed.prolific_profile_ids)
            ),
        }
    )
    return _republished(state, now)


def mark_prolific(state: CaseState, flagged: ProlificOffenderFlagged, now: datetime) -> Decision:
    if flagged.profile_id in state.prolific_profile_ids:
        return Decision(state)
    state = state.model_copy(
        update={"prolific_profile_ids": sorted({*state.prolific_profile_ids, flagged.profile_id})}
    )
    return _republished(state, now)


def apply_force_update(
    state: CaseState, update: ForceUpdate, topic_force: str, now: datetime
) -> Decision:
    """A force's update, read from `topic_force`'s updates topic."""
    if update.force != topic_force:
        return Decision(
            state, refusal=f"update names force {update.force} on {topic_force}'s topic"
        )
    if not state.has_report or state.status is None:
        return Decision(state, refusal=f"unknown case {update.case_id}")
    if state.force != topic_force:
        # Logged without the case's real force: one force learns nothing of another's cases.
        return Decision(state, refusal=f"case {update.case_id} is not {topic_force}'s case")
    try:
        target = next_status(state.status, update)
    except InvalidTransitionError as exc:
        return Decision(state, refusal=str(exc))
    is_link = update.kind in {UpdateKind.LINK_CONFIRMED, UpdateKind.LINK_REJECTED}
    assert state.report is not None
    if is_link and (
        update.link is None or update.link.offender_index >= len(state.report.offenders)
    ):
        return Decision(state, refusal=f"case {update.case_id} has no such offender")
    previous = state.status
    changes: dict[str, object] = {"status": target}
    if update.crime_reference:
        changes["crime_reference"] = update.crime_reference
    if is_link and update.link:
        changes["offender_links"] = _decide_link(state.offender_links, update)
    state = state.model_copy(update=changes)
    announcements: list[Announcement] = []
    if is_link:
        republished = _republished(state, now)
        # Matching remembers the pair, so the decision outlives this case's package.
        decided = Announcement(MATCHING_LINK_DECIDED, _link_decided(state, update, now))
        return Decision(republished.state, [*republished.announcements, decided])
    announcements.append(_status_changed(state, previous, now, update))
    state = state.model_copy(update={"status_sequence": state.status_sequence + 1})
    return Decision(state, announcements)


# --- helpers ---------------------------------------------------------------------------


def _republished(state: CaseState, now: datetime) -> Decision:
    """Re-prioritise and, if the case is with a force, send the force the new package."""
    if not state.has_report or state.force is None:
        return Decision(state)
    state = _reprioritised(state)
    announcement = _case_routed(state, now)
    return Decision(state.model_copy(update={"sequence": state.sequence + 1}), [announcement])


def _reprioritised(state: CaseState) -> CaseState:
    assert state.report is not None
    report = state.report
    facts = PriorityFacts(
        offence_type=report.offence_type,
        staff_injured=report.flags.staff_injured,
        weapon_seen=report.flags.weapon_seen,
        offender_detained_by_staff=report.flags.offender_detained_by_staff,
        offender_juvenile=report.flags.offender_juvenile,
        value_pence=report.total_value_pence,
        evidence_count=len(state.evidence),
        cctv_available=report.cctv_available,
        offender_named=any(o.name or o.aliases for o in report.offenders),
        vehicle_identified=any(o.vehicle_registration for o in report.offenders),
        prolific_offender=bool(state.prolific_profile_ids),
    )
    decision = prioritise(facts)
    reasons = [PriorityReason(code=code, text=text) for code, text in decision.reasons]
    return state.model_copy(update={"priority": decision.priority, "priority_reasons": reasons})


def _case_routed(state: CaseState, now: datetime) -> Announcement:
    assert state.force and state.routing_basis and state.priority and state.status
    assert state.reference and state.retailer_id and state.store and state.report
    event = CaseRouted(
        case_id=state.case_id,
        report_id=state.report_id,
        reference=state.reference,
        sequence=state.sequence + 1,
        force=state.force,
        routing_basis=state.routing_basis,
        priority=state.priority,
        priority_reasons=state.priority_reasons,
        status=state.status,
        retailer_id=state.retailer_id,
        store=state.store,
        report=state.report,
        evidence=state.evidence,
        offender_links=state.offender_links,
        routed_at=now,
    )
    return Announcement(force_topic(state.force, ForceTopicKind.CASES), event)


def _status_changed(
    state: CaseState, previous: CaseStatus, now: datetime, update: ForceUpdate | None = None
) -> Announcement:
    assert state.reference and state.retailer_id and state.store and state.status
    event = CaseStatusChanged(
        case_id=state.case_id,
        report_id=state.report_id,
        reference=state.reference,
        retailer_id=state.retailer_id,
        store_id=state.store.store_id,
        sequence=state.status_sequence + 1,
        force=state.force,
        update_kind=update.kind if update else None,
        crime_reference=state.crime_reference,
        outcome=update.outcome if update else None,
        evidence_request=update.evidence_request if update else None,
        previous_status=previous,
        status=state.status,
        changed_at=now,
    )
    return Announcement(CASES_STATUS_CHANGED, event)


def _matching_request(state: CaseState, submitted: ReportSubmitted) -> MatchingRequested:
    assert state.force is not None
    report = submitted.report
    return MatchingRequested(
        case_id=state.case_id,
        report_id=state.report_id,
        force=state.force,
        retailer_id=submitted.retailer_id,
        store_id=submitted.store.store_id,
        store_postcode=submitted.store.postcode,
        store_location=submitted.store.location,
        occurred_at=report.occurred_at,
        offence_type=report.offence_type,
        value_pence=report.total_value_pence,
        # Ethnicity is special category data for the owning force only, never matching.
        offenders=[strip_sensitive(o) for o in report.offenders],
    )


def _link_decided(state: CaseState, update: ForceUpdate, now: datetime) -> OffenderLinkDecided:
    assert update.link is not None and state.report is not None and state.store is not None
    report = state.report
    return OffenderLinkDecided(
        case_id=state.case_id,
        report_id=state.report_id,
        force=update.force,
        offender_index=update.link.offender_index,
        profile_id=update.link.profile_id,
        decision=(
            LinkStatus.CONFIRMED
            if update.kind == UpdateKind.LINK_CONFIRMED
            else LinkStatus.REJECTED
        ),
        store_id=state.store.store_id,
        occurred_at=report.occurred_at,
        offence_type=report.offence_type,
        # Ethnicity is special category data for the owning force only, never matching.
        offender=strip_sensitive(report.offenders[update.link.offender_index]),
        decided_at=now,
    )


def _decide_link(links: list[OffenderLink], update: ForceUpdate) -> list[OffenderLink]:
    assert update.link is not None
    status = (
        LinkStatus.CONFIRMED if update.kind == UpdateKind.LINK_CONFIRMED else LinkStatus.REJECTED
    )
    return [
        link.model_copy(update={"status": status})
        if link.offender_index == update.link.offender_index
        and link.profile_id == update.link.profile_id
        else link
        for link in links
    ]
