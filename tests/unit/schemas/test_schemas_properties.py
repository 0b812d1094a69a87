"""Property-based tests: valid models survive JSON round trips; junk fails cleanly."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopwatch.schemas.case_status import TRANSITIONS, CaseStatus
from shopwatch.schemas.enums import (
    Build,
    IcCode,
    OffenceType,
    OutcomeKind,
    Sex,
    UpdateKind,
    WitnessRole,
)
from shopwatch.schemas.events import CaseStatusChanged, ForceUpdate, ReportSubmitted
from shopwatch.schemas.forces import FORCE_SLUGS
from shopwatch.schemas.postcodes import (
    CROWN_DEPENDENCY_AREAS,
    POSTCODE_AREAS,
    InvalidPostcodeError,
    normalise_postcode,
)
from shopwatch.schemas.registry import EventDecodeError, encode_event, make_envelope, parse_event
from shopwatch.schemas.report import (
    ContactDetails,
    Item,
    OffenderDescription,
    Report,
    ReporterContact,
    ReportFlags,
    StoreSnapshot,
    WitnessStatement,
)
from shopwatch.schemas.sensitive import contains_sensitive, strip_sensitive

PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

word = st.text(st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=12)


def line(max_words: int = 6) -> st.SearchStrategy[str]:
    return st.lists(word, min_size=1, max_size=max_words).map(" ".join)


paragraph = st.lists(line(10), min_size=1, max_size=5).map("\n".join)
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]
)
past = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 1), timezones=zones
)
_UNIT = "ABDEFGHJLNPQRSTUWXYZ"
uk_areas = sorted(set(POSTCODE_AREAS) - CROWN_DEPENDENCY_AREAS)


@st.composite
def postcodes(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from(uk_areas))
    district = draw(st.integers(1, 9 if len(area) == 2 else 99))
    inward = (
        f"{draw(st.integers(0, 9))}{draw(st.sampled_from(_UNIT))}{draw(st.sampled_from(_UNIT))}"
    )
    text = f"{area}{district} {inward}"
    # Shops type postcodes any old way.
    spacing = draw(st.sampled_from(["", " ", "  "]))
    text = text.replace(" ", spacing)
    return draw(st.sampled_from([text, text.lower(), f" {text} "]))


@st.composite
def offenders(draw: st.DrawFn) -> OffenderDescription:
    age_min = draw(st.none() | st.integers(0, 120))
    age_max = draw(st.none() | st.integers(age_min or 0, 120))
    h_min = draw(st.none() | st.integers(50, 250))
    h_max = draw(st.none() | st.integers(h_min or 50, 250))
    return OffenderDescription(
        sex=draw(st.sampled_from(Sex)),
        age_min=age_min,
        age_max=age_max,
        height_min_cm=h_min,
        height_max_cm=h_max,
        build=draw(st.none() | st.sampled_from(Build)),
        hair=draw(st.none() | line()),
        clothing=draw(st.none() | paragraph),
        distinguishing_features=draw(st.none() | paragraph),
        name=draw(st.none() | line(3)),
        aliases=draw(st.lists(line(2), max_size=3)),
        vehicle_registration=draw(
            st.none() | st.from_regex(r"[A-Z]{2}[0-9]{2} ?[A-Z]{0,3}", fullmatch=True)
        ),
        ic_code=draw(st.none() | st.sampled_from(IcCode)),
    )


@st.composite
def reports(draw: st.DrawFn) -> Report:
    witness = None
    if draw(st.booleans()):
        witness = WitnessStatement(
            witness_name=draw(line(3)),
            witness_role=draw(st.sampled_from(WitnessRole)),
            contact=ContactDetails(email="w@example.com"),
            statement=draw(paragraph),
            consent_to_contact=draw(st.booleans()),
            declaration_accepted=True,
            made_at=draw(st.none() | past),
        )
    return Report(
        store_id=draw(ids),
        occurred_at=draw(past),
        offence_type=draw(st.sampled_from(OffenceType)),
        account=draw(paragraph),
        items=draw(
            st.lists(
                st.builds(
                    Item,
                    description=line(),
                    quantity=st.integers(1, 10_000),
                    unit_value_pence=st.integers(0, 100_000_000),
                    recovered=st.booleans(),
                ),
                max_size=5,
            )
        ),
        offenders=draw(st.lists(offenders(), max_size=3)),
        flags=ReportFlags(
            staff_injured=draw(st.booleans()),
            weapon_seen=draw(st.booleans()),
            offender_detained_by_staff=draw(st.booleans()),
            offender_juvenile=draw(st.none() | st.booleans()),
        ),
        cctv_available=draw(st.booleans()),
        witness_statement=witness,
        reporter=ReporterContact(name=draw(line(3)), email="someone@example.co.uk"),
    )


@PROFILE
@given(reports())
def test_report_round_trips_through_json(report: Report) -> None:
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report
    assert again.model_dump(mode="json") == report.model_dump(mode="json")
    assert again.occurred_at.utcoffset() == timedelta(0)


@PROFILE
@given(reports(), postcodes(), st.sampled_from(FORCE_SLUGS) | st.none())
def test_report_submitted_round_trips_through_the_registry(
    report: Report, postcode: str, override: str | None
) -> None:
    store = StoreSnapshot(
        store_id=report.store_id,
        name="A shop",
        address_lines=["1 High Street"],
        town="Town",
        postcode=postcode,
        force_override=override,
    )
    event = ReportSubmitted(
        report_id="r-1",
        reference="SW-20261101-000001",
        retailer_id="ret-1",
        store=store,
        submitted_at=datetime(2026, 11, 1, tzinfo=UTC),
        report=report,
    )
    envelope = make_envelope(event, producer="intake")
    decoded = parse_event(encode_event(envelope))
    assert decoded == envelope
    assert decoded.payload.store.postcode == normalise_postcode(postcode)


@st.composite
def force_updates(draw: st.DrawFn) -> ForceUpdate:
    kind = draw(st.sampled_from(UpdateKind))
    fields: dict[str, Any] = {
        "case_id": draw(ids),
        "force": draw(st.sampled_from(FORCE_SLUGS)),
        "kind": kind,
        "note": draw(st.none() | paragraph),
        "updated_at": draw(past),
    }
    if kind is UpdateKind.CRIME_RECORDED or draw(st.booleans()):
        fields["crime_reference"] = draw(
            st.from_regex(r"[A-Z0-9]{2,4}/[0-9]{3,8}/[0-9]{2}", fullmatch=True)
        )
    if kind is UpdateKind.OFFICER_ALLOCATED:
        fields["officer"] = {
            "collar_number": draw(st.from_regex(r"[A-Z]{0,2}[0-9]{1,6}", fullmatch=True))
        }
    if kind is UpdateKind.EVIDENCE_REQUESTED:
        fields["evidence_request"] = {"description": draw(paragraph)}
    if kind is UpdateKind.OUTCOME:
        fields["outcome"] = draw(st.sampled_from(OutcomeKind))
    if kind in (UpdateKind.LINK_CONFIRMED, UpdateKind.LINK_REJECTED):
        fields["link"] = {"offender_index": draw(st.integers(0, 19)), "profile_id": draw(ids)}
    return ForceUpdate.model_validate(fields)


@PROFILE
@given(force_updates())
def test_force_updates_round_trip(update: ForceUpdate) -> None:
    envelope = make_envelope(update, producer="force-durham")
    assert parse_event(encode_event(envelope), allowed=[ForceUpdate]) == envelope


transitions = [(a, b) for a, after in TRANSITIONS.items() for b in after]


@PROFILE
@given(st.sampled_from(transitions), st.integers(1, 1000))
def test_status_changes_round_trip(move: tuple[CaseStatus, CaseStatus], sequence: int) -> None:
    event = CaseStatusChanged(
        case_id="c-1",
        report_id="c-1",
        reference="SW-20261101-000001",
        retailer_id="ret-1",
        store_id="st-1",
        sequence=sequence,
        force="durham",
        previous_status=move[0],
        status=move[1],
        changed_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert parse_event(encode_event(make_envelope(event, producer="routing"))).payload == event


@PROFILE
@given(postcodes())
def test_postcode_normalisation_is_idempotent(postcode: str) -> None:
    once = normalise_postcode(postcode)
    assert normalise_postcode(once) == once
    assert normalise_postcode(once.lower().replace(" ", "")) == once


@PROFILE
@given(st.text(max_size=20))
def test_junk_postcodes_fail_cleanly(text: str) -> None:
    with contextlib.suppress(InvalidPostcodeError):
        normalise_postcode(text)


@PROFILE
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_junk_messages_fail_with_a_decode_error(raw: bytes) -> None:
    with contextlib.suppress(EventDecodeError):
        parse_event(raw)


@PROFILE
@given(reports())
def test_strip_sensitive_leaves_no_ic_code(report: Report) -> None:
    stripped = strip_sensitive(report)
    assert not contains_sensitive(stripped)
    assert all(o.ic_code is None for o in stripped.offenders)
    assert strip_sensitive(stripped) is stripped
    assert stripped.model_dump(exclude={"offenders"}) == report.model_dump(exclude={"offenders"})
