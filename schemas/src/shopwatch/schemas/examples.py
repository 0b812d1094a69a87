"""One valid, realistic example of the report and of every event.

Used for the exported example messages (``schemas/jsonschema/examples/``), the docs,
and as a starting point for tests in every service (``example_event(CaseRouted)``).
Everything is fixed (ids, timestamps) so the export is byte-for-byte stable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.enums import (
    Build,
    DerivativeKind,
    EvidenceRejectionReason,
    IcCode,
    LinkStatus,
    MediaKind,
    OffenceType,
    Priority,
    PriorityReasonCode,
    ProlificCriterion,
    RoutingBasis,
    Sex,
    UpdateKind,
    WitnessRole,
)
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import (
    EVENT_MODELS,
    CaseRouted,
    CaseStatusChanged,
    DerivativeRef,
    Event,
    EvidenceRejected,
    EvidenceStored,
    ForceUpdate,
    LinkedCaseRef,
    MatchedFeature,
    MatchingCompleted,
    MatchingRequested,
    MediaFacts,
    OffenderLink,
    OffenderLinkDecided,
    OfficerRef,
    PriorityReason,
    ProlificOffenderFlagged,
    ReportSubmitted,
)
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.report import (
    ContactDetails,
    Item,
    Location,
    OffenderDescription,
    Report,
    ReporterContact,
    ReportFlags,
    StoreSnapshot,
    WitnessStatement,
)
from shopwatch.schemas.sensitive import strip_sensitive

E = TypeVar("E", bound=Event)

T0 = datetime(2026, 11, 2, 14, 37, tzinfo=UTC)  # the incident
REPORT_ID = "0b9f3c1e-7d4a-4e8b-9a51-3f2d6c8e1a07"
CASE_ID = REPORT_ID  # one case per report; the same id ties the whole flow together
RETAILER_ID = "ret-northmart"
STORE_ID = "store-durham-0042"
EVIDENCE_ID = "ev-5d2a9c71"
PROFILE_ID = "prof-7e31b0"
REFERENCE = "SW-20261102-000123"
FORCE = "durham"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def example_store() -> StoreSnapshot:
    return StoreSnapshot(
        store_id=STORE_ID,
        name="Northmart Durham Market Place",
        address_lines=["12 Market Place"],
        town="Durham",
        postcode="DH1 3NJ",
        location=Location(latitude=54.7761, longitude=-1.5757),
    )


def example_offender() -> OffenderDescription:
    return OffenderDescription(
        sex=Sex.MALE,
        age_min=25,
        age_max=35,
        height_min_cm=175,
        height_max_cm=185,
        build=Build.SLIM,
        hair="short dark brown",
        clothing="grey hooded top, black tracksuit bottoms, white trainers",
        distinguishing_features="tattoo of a swallow on the left hand",
        name="Dean",
        aliases=["Deano"],
        vehicle_registration="NK19 XYZ",
        vehicle_description="silver Vauxhall Corsa",
        ic_code=IcCode.IC1,
    )


def example_report() -> Report:
    return Report(
        store_id=STORE_ID,
        retailer_incident_ref="NM-DUR-2026-1187",
        occurred_at=T0,
        offence_type=OffenceType.THEFT_FROM_SHOP,
        account=(
            "A man filled a bag with meat and coffee from aisles 3 and 7 and walked out "
            "past the tills without paying. When the supervisor asked him to stop he "
            "pushed past her and left in a silver car."
        ),
        items=[
            Item(description="Beef joint 1kg", quantity=4, unit_value_pence=1250),
            Item(
                description="Ground coffee 227g", quantity=6, unit_value_pence=475, recovered=True
            ),
        ],
        offenders=[example_offender()],
        flags=ReportFlags(
            staff_injured=False,
            weapon_seen=False,
            offender_detained_by_staff=False,
            offender_juvenile=False,
        ),
        cctv_available=True,
        witness_statement=WitnessStatement(
            witness_name="Alex Morgan",
            witness_role=WitnessRole.STORE_MANAGER,
            occupation="Store supervisor",
            contact=ContactDetails(email="alex.morgan@northmart.example", phone="0191 496 0000"),
            statement=(
                "I am the supervisor at Northmart Durham Market Place. At about 14:37 on "
                "2 November 2026 I saw a man I did not know put meat and coffee into a "
                "blue bag and walk past the tills without paying."
            ),
            consent_to_contact=True,
            willing_to_attend_court=True,
            unavailable_dates=[date(2026, 12, 24), date(2026, 12, 31)],
            declaration_accepted=True,
            made_at=T0 + timedelta(hours=1),
        ),
        reporter=ReporterContact(
            name="Alex Morgan",
            job_title="Store supervisor",
            email="alex.morgan@northmart.example",
            phone="0191 496 0000",
        ),
    )


def _examples() -> dict[type[Event], Event]:
    report = example_report()
    store = example_store()
    stored = EvidenceStored(
        evidence_id=EVIDENCE_ID,
        report_id=REPORT_ID,
        retailer_id=RETAILER_ID,
        exhibit_ref="AM-1",
        file_name="till3_cam2_1430-1445.mkv",
        media_type="video/x-matroska",
        size_bytes=734_003_200,
        sha256=SHA,
        media=MediaFacts(
            kind=MediaKind.VIDEO,
            container="matroska",
            video_codec="h264",
            width=1920,
            height=1080,
            duration_seconds=900.0,
            frame_rate=25.0,
        ),
        derivatives=[
            DerivativeRef(
                derivative_id="ev-5d2a9c71-d1",
                kind=DerivativeKind.PREVIEW,
                file_name="AM-1-PREVIEW-1.mp4",
                media_type="video/mp4",
                size_bytes=48_213_004,
                sha256="2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            ),
            DerivativeRef(
                derivative_id="ev-5d2a9c71-d2",
                kind=DerivativeKind.STILL,
                file_name="AM-1-STILL-1.jpg",
                media_type="image/jpeg",
                size_bytes=312_554,
                sha256="fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
                at_seconds=421.5,
            ),
        ],
        stored_at=T0 + timedelta(hours=2),
    )
    link = OffenderLink(
        offender_index=0,
        profile_id=PROFILE_ID,
        score=0.83,
        status=LinkStatus.CANDIDATE,
        matched_features=[
            MatchedFeature(feature="vehicle_registration", score=0.9, detail="NK19 XY?"),
            MatchedFeature(feature="distinguishing_features", score=0.8, detail="swallow tattoo"),
        ],
        linked_case_count=3,
        linked_cases=[
            LinkedCaseRef(case_id="c-1f0e", force="durham"),
            LinkedCaseRef(case_id="c-2a9d", force="cleveland"),
            LinkedCaseRef(case_id="c-3b7c", force="northumbria"),
        ],
    )
    examples: list[Event] = [
        ReportSubmitted(
            report_id=REPORT_ID,
            reference=REFERENCE,
            retailer_id=RETAILER_ID,
            store=store,
            submitted_at=T0 + timedelta(minutes=50),
            report=report,
        ),
        stored,
        EvidenceRejected(
            evidence_id="ev-81c4e002",
            report_id=REPORT_ID,
            retailer_id=RETAILER_ID,
            file_name="cctv_export.mp4",
            reason=EvidenceRejectionReason.EXECUTABLE_CONTENT,
            detail="The file is a Windows program renamed to .mp4, not a video.",
            declared_media_type="video/mp4",
            detected_media_type="application/x-dosexec",
            size_bytes=1_204_224,
            rejected_at=T0 + timedelta(hours=2),
        ),
        MatchingRequested(
            case_id=CASE_ID,
            report_id=REPORT_ID,
            force=FORCE,
            retailer_id=RETAILER_ID,
            store_id=STORE_ID,
            store_postcode=store.postcode,
            store_location=store.location,
            occurred_at=report.occurred_at,
            offence_type=report.offence_type,
            value_pence=report.total_value_pence,
            offenders=[strip_sensitive(o) for o in report.offenders],
        ),
        MatchingCompleted(
            case_id=CASE_ID,
            report_id=REPORT_ID,
            force=FORCE,
            links=[link],
            completed_at=T0 + timedelta(hours=1, seconds=3),
        ),
        CaseRouted(
            case_id=CASE_ID,
            report_id=REPORT_ID,
            reference=REFERENCE,
            sequence=2,
            force=FORCE,
            routing_basis=RoutingBasis.POSTCODE_AREA,
            priority=Priority.HIGH,
            priority_reasons=[
                PriorityReason(
                    code=PriorityReasonCode.EVIDENCE_AVAILABLE,
                    text="CCTV of the whole incident is available.",
                ),
                PriorityReason(
                    code=PriorityReasonCode.VEHICLE_IDENTIFIED,
                    text="The offender left in a vehicle with a known registration.",
                ),
            ],
            status=CaseStatus.ROUTED,
            retailer_id=RETAILER_ID,
            store=store,
            report=report,
            evidence=[stored.as_ref()],
            offender_links=[link],
            routed_at=T0 + timedelta(hours=2, minutes=1),
        ),
        ForceUpdate(
            case_id=CASE_ID,
            force=FORCE,
            kind=UpdateKind.CRIME_RECORDED,
            crime_reference="DHM-26-114523",
            officer=OfficerRef(collar_number="1234", name="PC Sam Lee", unit="Durham City NPT"),
            note="Recorded as theft from shop; CCTV reviewed.",
            updated_at=T0 + timedelta(days=1),
        ),
        CaseStatusChanged(
            case_id=CASE_ID,
            report_id=REPORT_ID,
            reference=REFERENCE,
            retailer_id=RETAILER_ID,
            store_id=STORE_ID,
            sequence=3,
            force=FORCE,
            update_kind=UpdateKind.CRIME_RECORDED,
            crime_reference="DHM-26-114523",
            previous_status=CaseStatus.ACKNOWLEDGED,
            status=CaseStatus.CRIME_RECORDED,
            changed_at=T0 + timedelta(days=1, seconds=1),
        ),
        ProlificOffenderFlagged(
            profile_id=PROFILE_ID,
            force=FORCE,
            criteria=[ProlificCriterion.REPORT_COUNT, ProlificCriterion.STORE_COUNT],
            report_count=6,
            store_count=4,
            force_count=3,
            window_days=90,
            first_seen_at=T0 - timedelta(days=40),
            last_seen_at=T0,
            linked_cases=[
                LinkedCaseRef(case_id=CASE_ID, force="durham"),
                LinkedCaseRef(case_id="c-2a9d", force="cleveland"),
            ],
            flagged_at=T0 + timedelta(hours=1, seconds=4),
        ),
        OffenderLinkDecided(
            case_id=CASE_ID,
            report_id=REPORT_ID,
            force=FORCE,
            offender_index=0,
            profile_id=PROFILE_ID,
            decision=LinkStatus.CONFIRMED,
            store_id=STORE_ID,
            occurred_at=report.occurred_at,
            offence_type=report.offence_type,
            offender=strip_sensitive(report.offenders[0]),
            decided_at=T0 + timedelta(days=1, hours=2),
        ),
    ]
    by_model = {type(e): e for e in examples}
    assert set(by_model) == set(EVENT_MODELS), "every event model needs an example"
    return by_model


def example_event(model: type[E]) -> E:
    """A valid example payload of this event model."""
    event = _examples()[model]
    assert isinstance(event, model)
    return event


def example_envelope(model: type[E], producer: str | None = None) -> Envelope[E]:
    """The example payload in an envelope with a fixed id and time."""
    payload = example_event(model)
    number = EVENT_MODELS.index(model) + 1
    return make_envelope(
        payload,
        producer=producer or _DEFAULT_PRODUCERS[model.EVENT_TYPE],
        event_id=uuid.UUID(int=number, version=4),
        occurred_at=_occurred(payload),
    )


_DEFAULT_PRODUCERS = {
    "report.submitted": "intake",
    "evidence.stored": "evidence",
    "evidence.rejected": "evidence",
    "matching.requested": "routing",
    "matching.completed": "matching",
    "case.routed": "routing",
    "force.update": "force-durham",
    "case.status-changed": "routing",
    "offender.prolific-flagged": "matching",
    "offender.link-decided": "routing",
}


_TIME_FIELDS = (
    "submitted_at",
    "stored_at",
    "rejected_at",
    "completed_at",
    "routed_at",
    "updated_at",
    "changed_at",
    "flagged_at",
    "decided_at",
)


def _occurred(payload: Event) -> datetime:
    """The envelope time of an example: the payload's own event time where it has one."""
    for name in _TIME_FIELDS:
        value: Any = getattr(payload, name, None)
        if isinstance(value, datetime):
            return value
    return T0 + timedelta(hours=1)  # MatchingRequested: the envelope's time is its time
