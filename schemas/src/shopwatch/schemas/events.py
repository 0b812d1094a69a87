"""Every event on the bus, version 1.

Each event class names its ``EVENT_TYPE`` and ``SCHEMA_VERSION`` (what the envelope
carries) and its ``KEY_FIELD`` (the Kafka record key, which keeps one report's or one
case's events in order on one partition). Payloads are wrapped in
``Envelope[EventClass]``; ``shopwatch.schemas.registry.parse_event`` decodes any of them.

Version 1 only grows: new optional fields and new enum members. Anything else is a
new class with ``SCHEMA_VERSION = 2`` on a new ``.v2`` topic.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from shopwatch.schemas.case_status import CaseStatus, InvalidTransitionError, can_transition
from shopwatch.schemas.enums import (
    DerivativeKind,
    EvidenceRejectionReason,
    LinkStatus,
    MediaKind,
    OffenceType,
    OutcomeKind,
    Priority,
    PriorityReasonCode,
    ProlificCriterion,
    RoutingBasis,
    UpdateKind,
)
from shopwatch.schemas.forces import ForceSlug
from shopwatch.schemas.postcodes import Postcode
from shopwatch.schemas.primitives import (
    MAX_OFFENDERS,
    ByteSize,
    Contract,
    ExhibitRef,
    FileName,
    Id,
    Line500,
    MediaType,
    MediumText,
    Name,
    PastUtcDatetime,
    Pence,
    Reference,
    Score,
    Sha256Hex,
    ShortText,
    UtcDatetime,
)
from shopwatch.schemas.report import Location, OffenderDescription, Report, StoreSnapshot

CrimeReference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_. -]{2,39}$"),
]
"""A force's crime reference number; formats differ by force (e.g. 12/34567/26)."""

CollarNumber = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9/-]{0,19}$")]

FeatureName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]

Sequence = Annotated[int, Field(ge=1, le=1_000_000)]


class Event(Contract):
    """Base of every event payload."""

    EVENT_TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1
    KEY_FIELD: ClassVar[str]

    def key(self) -> str:
        """The Kafka record key for this event."""
        return str(getattr(self, self.KEY_FIELD))


# --- parts shared by several events ---------------------------------------------------


class MediaFacts(Contract):
    """What probing the file found (not what the uploader claimed)."""

    kind: MediaKind
    container: ShortText | None = None
    video_codec: ShortText | None = None
    audio_codec: ShortText | None = None
    width: int | None = Field(default=None, ge=1, le=16_384)
    height: int | None = Field(default=None, ge=1, le=16_384)
    duration_seconds: float | None = Field(default=None, ge=0, le=604_800, allow_inf_nan=False)
    frame_rate: float | None = Field(default=None, gt=0, le=1_000, allow_inf_nan=False)


class DerivativeRef(Contract):
    """A processed copy of a master exhibit, named after it (``JS-1-PREVIEW-1.mp4``)."""

    derivative_id: Id
    kind: DerivativeKind
    file_name: FileName
    media_type: MediaType
    size_bytes: ByteSize
    sha256: Sha256Hex
    at_seconds: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="For stills: the frame time."
    )


class EvidenceRef(Contract):
    """One verified exhibit as a force sees it in a case package."""

    evidence_id: Id
    exhibit_ref: ExhibitRef
    file_name: FileName
    media_type: MediaType
    size_bytes: ByteSize
    sha256: Sha256Hex
    media: MediaFacts | None = None
    derivatives: list[DerivativeRef] = Field(default_factory=list, max_length=50)
    stored_at: UtcDatetime


class PriorityReason(Contract):
    code: PriorityReasonCode
    text: Line500


class MatchedFeature(Contract):
    """One feature that contributed to a link score, so analysts see why."""

    feature: FeatureName  # e.g. "vehicle_registration", "alias", "distinguishing_features"
    score: Score
    detail: ShortText | None = None


class LinkedCaseRef(Contract):
    """Another case linked through the same offender profile: its id and force only.

    A force sees details of its own cases only; for others it gets the id and force.
    """

    case_id: Id
    force: ForceSlug


class OffenderLink(Contract):
    """A described offender of this report and a profile it may be the same person as."""

    offender_index: int = Field(ge=0, lt=MAX_OFFENDERS)
    profile_id: Id
    score: Score
    status: LinkStatus
    matched_features: list[MatchedFeature] = Field(default_factory=list, max_length=20)
    linked_case_count: int = Field(default=0, ge=0, le=1_000_000)
    linked_cases: list[LinkedCaseRef] = Field(default_factory=list, max_length=200)


class OfficerRef(Contract):
    collar_number: CollarNumber
    name: Name | None = None
    unit: ShortText | None = None


class EvidenceRequest(Contract):
    """What a force needs from the retailer, in words the store can act on."""

    description: MediumText
    due_by: date | None = None


class LinkDecision(Contract):
    offender_index: int = Field(ge=0, lt=MAX_OFFENDERS)
    profile_id: Id


# --- the events -----------------------------------------------------------------------


class ReportSubmitted(Event):
    """Intake accepted a report (published through intake's outbox).

    It carries the offenders' IC codes so routing can pass them to the owning force;
    every other consumer (evidence, notify) must not keep them (``strip_sensitive``).
    """

    EVENT_TYPE: ClassVar[str] = "report.submitted"
    KEY_FIELD: ClassVar[str] = "report_id"

    report_id: Id
    reference: Reference
    retailer_id: Id
    store: StoreSnapshot
    submitted_at: PastUtcDatetime
    report: Report

    @field_validator("report")
    @classmethod
    def _same_store(cls, value: Report, info: ValidationInfo) -> Report:
        store = info.data.get("store")
        if isinstance(store, StoreSnapshot) and store.store_id != value.store_id:
            raise ValueError(
                f"report.store_id {value.store_id!r} differs from store.store_id {store.store_id!r}"
            )
        return value


class EvidenceStored(Event):
    """A master exhibit was uploaded, hashed by the server and verified as media."""

    EVENT_TYPE: ClassVar[str] = "evidence.stored"
    KEY_FIELD: ClassVar[str] = "report_id"

    evidence_id: Id
    report_id: Id
    retailer_id: Id
    exhibit_ref: ExhibitRef
    file_name: FileName
    media_type: MediaType
    size_bytes: int = Field(ge=1, le=1 << 50)
    sha256: Sha256Hex
    media: MediaFacts | None = None
    derivatives: list[DerivativeRef] = Field(default_factory=list, max_length=50)
    stored_at: UtcDatetime

    def as_ref(self) -> EvidenceRef:
        """The reference routing puts in the case package."""
        return EvidenceRef(
            evidence_id=self.evidence_id,
            exhibit_ref=self.exhibit_ref,
            file_name=self.file_name,
            media_type=self.media_type,
            size_bytes=self.size_bytes,
            sha256=self.sha256,
            media=self.media,
            derivatives=list(self.derivatives),
            stored_at=self.stored_at,
        )


class EvidenceRejected(Event):
    """An upload failed verification; nothing of it reaches a force."""

    EVENT_TYPE: ClassVar[str] = "evidence.rejected"
    KEY_FIELD: ClassVar[str] = "report_id"

    evidence_id: Id
    report_id: Id
    retailer_id: Id
    file_name: FileName
    reason: EvidenceRejectionReason
    detail: MediumText
    declared_media_type: MediaType | None = None
    detected_media_type: ShortText | None = None
    declared_sha256: Sha256Hex | None = None
    computed_sha256: Sha256Hex | None = None
    size_bytes: ByteSize | None = None
    rejected_at: UtcDatetime


class MatchingRequested(Event):
    """Routing asks matching to link this report's offenders to known profiles.

    Carries only what matching needs. Ethnicity codes are never sent here: they are
    not a matching feature and matching is not the owning force.
    """

    EVENT_TYPE: ClassVar[str] = "matching.requested"
    KEY_FIELD: ClassVar[str] = "case_id"

    case_id: Id
    report_id: Id
    force: ForceSlug
    retailer_id: Id
    store_id: Id
    store_postcode: Postcode
    store_location: Location | None = None
    occurred_at: PastUtcDatetime
    offence_type: OffenceType
    value_pence: Pence = 0
    offenders: list[OffenderDescription] = Field(min_length=1, max_length=MAX_OFFENDERS)

    @field_validator("offenders")
    @classmethod
    def _no_ethnicity(cls, value: list[OffenderDescription]) -> list[OffenderDescription]:
        for index, offender in enumerate(value):
            if offender.ic_code is not None:
                raise ValueError(
                    f"offenders[{index}].ic_code must be null: ethnicity is never sent to "
                    "matching (strip it with shopwatch.schemas.sensitive.strip_sensitive)"
                )
        return value


class MatchingCompleted(Event):
    """Matching's answer for one case: links per offender and any prolific profiles."""

    EVENT_TYPE: ClassVar[str] = "matching.completed"
    KEY_FIELD: ClassVar[str] = "case_id"

    case_id: Id
    report_id: Id
    force: ForceSlug
    links: list[OffenderLink] = Field(default_factory=list, max_length=400)
    prolific_profile_ids: list[Id] = Field(default_factory=list, max_length=MAX_OFFENDERS)
    completed_at: UtcDatetime


class CaseRouted(Event):
    """The case package a force receives on ``force.<slug>.cases.v1``.

    Published again, with a higher ``sequence``, whenever the package changes
    (evidence arrives, matching adds links, priority changes): a force keeps the
    highest sequence per case and ignores older ones.
    """

    EVENT_TYPE: ClassVar[str] = "case.routed"
    KEY_FIELD: ClassVar[str] = "case_id"

    case_id: Id
    report_id: Id
    reference: Reference
    sequence: Sequence
    force: ForceSlug
    routing_basis: RoutingBasis
    priority: Priority
    priority_reasons: list[PriorityReason] = Field(min_length=1, max_length=20)
    status: CaseStatus
    retailer_id: Id
    store: StoreSnapshot
    report: Report
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=100)
    offender_links: list[OffenderLink] = Field(default_factory=list, max_length=400)
    routed_at: UtcDatetime


# Which optional fields of a ForceUpdate each kind requires, and which fields belong
# to one set of kinds only (an outcome on an acknowledgement is a mistake to refuse).
FORCE_UPDATE_REQUIRED: dict[UpdateKind, tuple[str, ...]] = {
    UpdateKind.CRIME_RECORDED: ("crime_reference",),
    UpdateKind.OFFICER_ALLOCATED: ("officer",),
    UpdateKind.EVIDENCE_REQUESTED: ("evidence_request",),
    UpdateKind.OUTCOME: ("outcome",),
    UpdateKind.LINK_CONFIRMED: ("link",),
    UpdateKind.LINK_REJECTED: ("link",),
}
FORCE_UPDATE_ONLY_FOR: dict[str, frozenset[UpdateKind]] = {
    "evidence_request": frozenset({UpdateKind.EVIDENCE_REQUESTED}),
    "outcome": frozenset({UpdateKind.OUTCOME}),
    "link": frozenset({UpdateKind.LINK_CONFIRMED, UpdateKind.LINK_REJECTED}),
}


class ForceUpdate(Event):
    """What a force says about one of its cases, on ``force.<slug>.updates.v1``.

    Each kind requires its own field (``FORCE_UPDATE_REQUIRED``): ``crime_recorded``
    needs ``crime_reference``, ``officer_allocated`` an ``officer``,
    ``evidence_requested`` an ``evidence_request``, ``outcome`` an ``outcome``, and
    link decisions a ``link``. Routing checks the move with the case state machine.
    """

    EVENT_TYPE: ClassVar[str] = "force.update"
    KEY_FIELD: ClassVar[str] = "case_id"

    case_id: Id
    force: ForceSlug
    kind: UpdateKind
    crime_reference: CrimeReference | None = Field(default=None, validate_default=True)
    officer: OfficerRef | None = Field(default=None, validate_default=True)
    evidence_request: EvidenceRequest | None = Field(default=None, validate_default=True)
    outcome: OutcomeKind | None = Field(default=None, validate_default=True)
    link: LinkDecision | None = Field(default=None, validate_default=True)
    note: MediumText | None = None
    updated_at: PastUtcDatetime

    @field_validator("crime_reference", "officer", "evidence_request", "outcome", "link")
    @classmethod
    def _fields_match_kind(cls, value: object, info: ValidationInfo) -> object:
        kind = info.data.get("kind")
        if not isinstance(kind, UpdateKind):
            return value  # the kind itself is invalid; that error is reported already
        field = info.field_name or ""
        if value is None and field in FORCE_UPDATE_REQUIRED.get(kind, ()):
            raise ValueError(f"{field} is required when kind is {kind.value!r}")
        only_for = FORCE_UPDATE_ONLY_FOR.get(field)
        if value is not None and only_for is not None and kind not in only_for:
            kinds = " or ".join(repr(k.value) for k in sorted(only_for))
            raise ValueError(f"{field} is only allowed when kind is {kinds}, not {kind.value!r}")
        return value


class CaseStatusChanged(Event):
    """A case moved to a new status; intake shows it, notify emails about it.

    Carries what a retailer may see: the reference, the status and the next step.
    ``sequence`` grows by one per change of the case, so consumers can drop stale ones.
    """

    EVENT_TYPE: ClassVar[str] = "case.status-changed"
    KEY_FIELD: ClassVar[str] = "case_id"

    case_id: Id
    report_id: Id
    reference: Reference
    retailer_id: Id
    store_id: Id
    sequence: Sequence
    force: ForceSlug | None = None
    update_kind: UpdateKind | None = None
    crime_reference: CrimeReference | None = None
    outcome: OutcomeKind | None = None
    evidence_request: EvidenceRequest | None = None
    previous_status: CaseStatus | None = None
    status: CaseStatus
    changed_at: UtcDatetime

    @field_validator("status")
    @classmethod
    def _valid_move(cls, value: CaseStatus, info: ValidationInfo) -> CaseStatus:
        previous = info.data.get("previous_status")
        if isinstance(previous, CaseStatus) and not can_transition(previous, value):
            raise ValueError(str(InvalidTransitionError(previous, value)))
        force = info.data.get("force")
        if force is None and value not in {CaseStatus.SUBMITTED, CaseStatus.UNROUTABLE}:
            if "force" not in info.data:
                return value  # force itself was invalid; already reported
            raise ValueError(f"force is required once a case is {value.value!r}")
        return value


class ProlificOffenderFlagged(Event):
    """An offender profile crossed the prolific threshold.

    One event per force whose area the profile touches. Linked cases are ids and
    forces only; a force already holds the details of its own cases.
    """

    EVENT_TYPE: ClassVar[str] = "offender.prolific-flagged"
    KEY_FIELD: ClassVar[str] = "profile_id"

    profile_id: Id
    force: ForceSlug
    criteria: list[ProlificCriterion] = Field(min_length=1, max_length=len(ProlificCriterion))
    report_count: int = Field(ge=1, le=1_000_000)
    store_count: int = Field(ge=1, le=1_000_000)
    force_count: int = Field(ge=1, le=100)
    window_days: int = Field(ge=1, le=3_650)
    first_seen_at: PastUtcDatetime
    last_seen_at: PastUtcDatetime
    linked_cases: list[LinkedCaseRef] = Field(default_factory=list, max_length=500)
    flagged_at: UtcDatetime

    @field_validator("last_seen_at")
    @classmethod
    def _seen_in_order(cls, value: datetime, info: ValidationInfo) -> datetime:
        first = info.data.get("first_seen_at")
        if isinstance(first, datetime) and value < first:
            raise ValueError("last_seen_at must not be before first_seen_at")
        return value


class OffenderLinkDecided(Event):
    """A force's decision on one possible link, passed on by routing to matching.

    Routing publishes it when it accepts a ``link_confirmed`` / ``link_rejected``
    ``ForceUpdate``. Matching remembers the pair and lets it beat any score: a confirmed
    offender joins the profile, a rejected pair is never linked or suggested again.
    It repeats what matching needs of that offender (store, time, offence and the
    description, without ethnicity) so matching can act on the decision on its own,
    even for a report it has not matched yet.
    """

    EVENT_TYPE: ClassVar[str] = "offender.link-decided"
    KEY_FIELD: ClassVar[str] = "case_id"

    case_id: Id
    report_id: Id
    force: ForceSlug
    offender_index: int = Field(ge=0, lt=MAX_OFFENDERS)
    profile_id: Id
    decision: LinkStatus
    store_id: Id
    occurred_at: PastUtcDatetime
    offence_type: OffenceType
    offender: OffenderDescription | None = None
    decided_at: UtcDatetime

    @field_validator("decision")
    @classmethod
    def _is_a_decision(cls, value: LinkStatus) -> LinkStatus:
        if value not in {LinkStatus.CONFIRMED, LinkStatus.REJECTED}:
            raise ValueError("decision must be 'confirmed' or 'rejected'")
        return value

    @field_validator("offender")
    @classmethod
    def _no_ethnicity(cls, value: OffenderDescription | None) -> OffenderDescription | None:
        if value is not None and value.ic_code is not None:
            raise ValueError(
                "offender.ic_code must be null: ethnicity is never sent to matching "
                "(strip it with shopwatch.schemas.sensitive.strip_sensitive)"
            )
        return value


EVENT_MODELS: tuple[type[Event], ...] = (
    ReportSubmitted,
    EvidenceStored,
    EvidenceRejected,
    MatchingRequested,
    MatchingCompleted,
    CaseRouted,
    ForceUpdate,
    CaseStatusChanged,
    ProlificOffenderFlagged,
    OffenderLinkDecided,
)
"""Every event class of the contract, in flow order."""
