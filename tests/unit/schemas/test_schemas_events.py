"""Events, the envelope and the registry: the rules beyond plain field types."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.enums import IcCode, OutcomeKind, UpdateKind
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import (
    EVENT_MODELS,
    FORCE_UPDATE_REQUIRED,
    CaseRouted,
    CaseStatusChanged,
    EvidenceStored,
    ForceUpdate,
    MatchingRequested,
    OffenderLinkDecided,
    ProlificOffenderFlagged,
    ReportSubmitted,
)
from shopwatch.schemas.examples import example_envelope, example_event
from shopwatch.schemas.registry import (
    EVENT_REGISTRY,
    EventDecodeError,
    InvalidEventError,
    UnexpectedEventTypeError,
    UnknownEventTypeError,
    UnsupportedSchemaVersionError,
    encode_event,
    event_model,
    make_envelope,
    parse_event,
)

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def errors(model: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def update(kind: UpdateKind, **fields: Any) -> dict[str, Any]:
    return {"case_id": "c-1", "force": "durham", "kind": kind, "updated_at": NOW, **fields}


# --- every event ----------------------------------------------------------------------


def test_every_event_has_a_unique_type_version_and_key() -> None:
    keys = {(m.EVENT_TYPE, m.SCHEMA_VERSION) for m in EVENT_MODELS}
    assert len(keys) == len(EVENT_MODELS) == 10
    assert all(m.SCHEMA_VERSION == 1 for m in EVENT_MODELS)
    for model in EVENT_MODELS:
        assert model.KEY_FIELD in model.model_fields, model
        assert example_event(model).key()


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_examples_round_trip_through_the_registry(model: type[Any]) -> None:
    envelope = example_envelope(model)
    decoded = parse_event(encode_event(envelope))
    assert type(decoded.payload) is model
    assert decoded == envelope
    assert decoded.correlation_id == envelope.payload.key()


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_events_refuse_unknown_fields(model: type[Any]) -> None:
    data = example_event(model).model_dump(mode="json")
    data["surprise"] = True
    assert "surprise" in errors(model, data)


# --- ForceUpdate: each kind's fields --------------------------------------------------


@pytest.mark.parametrize(("kind", "required"), sorted(FORCE_UPDATE_REQUIRED.items()))
def test_force_update_kind_requires_its_field(kind: UpdateKind, required: tuple[str, ...]) -> None:
    found = errors(ForceUpdate, update(kind))
    for field in required:
        assert f"{field} is required when kind is {kind.value!r}" in found[field]


def test_force_update_valid_kinds() -> None:
    ForceUpdate.model_validate(update(UpdateKind.ACKNOWLEDGED))
    ForceUpdate.model_validate(update(UpdateKind.CLOSED, note="Closed: no further leads."))
    ForceUpdate.model_validate(update(UpdateKind.CRIME_RECORDED, crime_reference="12/3456/26"))
    ForceUpdate.model_validate(
        update(UpdateKind.OFFICER_ALLOCATED, officer={"collar_number": "PC1234"})
    )
    ForceUpdate.model_validate(
        update(
            UpdateKind.EVIDENCE_REQUESTED,
            evidence_request={"description": "A still of the offender's face at the till."},
        )
    )
    ForceUpdate.model_validate(
        update(UpdateKind.OUTCOME, outcome=OutcomeKind.CHARGED, crime_reference="12/3456/26")
    )
    ForceUpdate.model_validate(
        update(UpdateKind.LINK_REJECTED, link={"offender_index": 0, "profile_id": "p-1"})
    )


def test_force_update_refuses_fields_of_another_kind() -> None:
    found = errors(ForceUpdate, update(UpdateKind.ACKNOWLEDGED, outcome="charged"))
    assert "outcome is only allowed when kind is 'outcome'" in found["outcome"]
    found = errors(
        ForceUpdate,
        update(UpdateKind.CLOSED, link={"offender_index": 0, "profile_id": "p-1"}),
    )
    assert "link is only allowed" in found["link"]


def test_force_update_refuses_unknown_force_and_kind() -> None:
    found = errors(ForceUpdate, update(UpdateKind.ACKNOWLEDGED, force="gotham"))
    assert "unknown force slug 'gotham'" in found["force"]
    found = errors(ForceUpdate, update("arrested"))  # type: ignore[arg-type]
    assert set(found) == {"kind"}


def test_force_update_refuses_bad_crime_reference() -> None:
    found = errors(ForceUpdate, update(UpdateKind.CRIME_RECORDED, crime_reference="!"))
    assert "crime_reference" in found


# --- other events' rules --------------------------------------------------------------


def test_case_status_changed_must_be_an_allowed_transition() -> None:
    data = example_event(CaseStatusChanged).model_dump(mode="json")
    data.update(previous_status="closed", status="acknowledged")
    found = errors(CaseStatusChanged, data)
    assert "cannot move to 'acknowledged'" in found["status"]


def test_case_status_changed_needs_a_force_once_routed() -> None:
    data = example_event(CaseStatusChanged).model_dump(mode="json")
    data.update(force=None, previous_status=None, status="routed")
    assert "force is required" in errors(CaseStatusChanged, data)["status"]
    data.update(status="unroutable")
    assert CaseStatusChanged.model_validate(data).status is CaseStatus.UNROUTABLE


def test_matching_never_receives_ethnicity() -> None:
    data = example_event(MatchingRequested).model_dump(mode="json")
    data["offenders"][0]["ic_code"] = IcCode.IC3.value
    found = errors(MatchingRequested, data)
    assert "offenders[0].ic_code must be null" in found["offenders"]


def test_link_decision_never_carries_ethnicity_and_is_a_decision() -> None:
    data = example_event(OffenderLinkDecided).model_dump(mode="json")
    data["offender"]["ic_code"] = IcCode.IC3.value
    assert "offender.ic_code must be null" in errors(OffenderLinkDecided, data)["offender"]
    data = example_event(OffenderLinkDecided).model_dump(mode="json")
    data["decision"] = "candidate"
    assert "must be 'confirmed' or 'rejected'" in errors(OffenderLinkDecided, data)["decision"]
    data["decision"] = "rejected"
    assert OffenderLinkDecided.model_validate(data).decision == "rejected"


def test_report_submitted_store_must_match_report() -> None:
    data = example_event(ReportSubmitted).model_dump(mode="json")
    data["store"]["store_id"] = "another-store"
    assert "differs from store.store_id" in errors(ReportSubmitted, data)["report"]


def test_report_submitted_reference_format() -> None:
    data = example_event(ReportSubmitted).model_dump(mode="json")
    data["reference"] = "SW-2026-1"
    assert "reference" in errors(ReportSubmitted, data)


def test_case_routed_needs_a_reason_and_a_positive_sequence() -> None:
    data = example_event(CaseRouted).model_dump(mode="json")
    data["priority_reasons"] = []
    data["sequence"] = 0
    found = errors(CaseRouted, data)
    assert "at least 1" in found["priority_reasons"]
    assert "greater than or equal to 1" in found["sequence"]


def test_evidence_refuses_bad_hash_and_path_in_file_name() -> None:
    data = example_event(EvidenceStored).model_dump(mode="json")
    data["sha256"] = "ABC"
    data["file_name"] = "../../etc/passwd"
    data["size_bytes"] = 0
    found = errors(EvidenceStored, data)
    assert set(found) >= {"sha256", "file_name", "size_bytes"}
    assert "path separators" in found["file_name"]


def test_evidence_stored_as_ref() -> None:
    stored = example_event(EvidenceStored)
    ref = stored.as_ref()
    assert (ref.sha256, ref.size_bytes, ref.exhibit_ref) == (
        stored.sha256,
        stored.size_bytes,
        stored.exhibit_ref,
    )


def test_prolific_seen_dates_in_order() -> None:
    data = example_event(ProlificOffenderFlagged).model_dump(mode="json")
    data["first_seen_at"], data["last_seen_at"] = data["last_seen_at"], data["first_seen_at"]
    assert "before first_seen_at" in errors(ProlificOffenderFlagged, data)["last_seen_at"]


# --- the envelope ---------------------------------------------------------------------


def envelope_data(model: type[Any] = ForceUpdate) -> dict[str, Any]:
    return example_envelope(model).model_dump(mode="json")


def test_envelope_event_type_must_match_the_payload_model() -> None:
    data = envelope_data()
    data["event_type"] = "case.routed"
    with pytest.raises(ValidationError, match="does not match the payload model ForceUpdate"):
        Envelope[ForceUpdate].model_validate(data)


def test_envelope_schema_version_must_match_the_payload_model() -> None:
    data = envelope_data()
    data["schema_version"] = 2
    with pytest.raises(ValidationError, match="schema_version 2 does not match"):
        Envelope[ForceUpdate].model_validate(data)


def test_envelope_refuses_naive_time_and_normalises_to_utc() -> None:
    data = envelope_data()
    data["occurred_at"] = "2026-11-03T09:00:00"
    assert "occurred_at" in errors(Envelope[ForceUpdate], data)
    data["occurred_at"] = "2026-11-03T10:00:00+01:00"
    assert Envelope[ForceUpdate].model_validate(data).occurred_at == NOW


def test_envelope_field_rules() -> None:
    data = envelope_data()
    data.update(producer="Bad Producer", correlation_id="", event_id="nope")
    assert set(errors(Envelope[ForceUpdate], data)) == {"producer", "correlation_id", "event_id"}


def test_make_envelope_fills_type_version_and_correlation() -> None:
    payload = example_event(CaseRouted)
    envelope = make_envelope(payload, producer="routing")
    assert (envelope.event_type, envelope.schema_version) == ("case.routed", 1)
    assert envelope.correlation_id == payload.case_id
    assert isinstance(envelope.event_id, uuid.UUID)
    assert envelope.occurred_at.tzinfo is not None
    other = make_envelope(payload, producer="routing", correlation_id="corr-1")
    assert other.correlation_id == "corr-1"
    assert other.event_id != envelope.event_id


# --- parse_event ----------------------------------------------------------------------


def test_registry_lookup() -> None:
    assert event_model("force.update", 1) is ForceUpdate
    assert len(EVENT_REGISTRY) == len(EVENT_MODELS)
    with pytest.raises(UnknownEventTypeError):
        event_model("force.upgrade", 1)
    with pytest.raises(UnsupportedSchemaVersionError):
        event_model("force.update", 2)


@pytest.mark.parametrize(
    ("raw", "error", "fragment"),
    [
        (b"\xff\xfe", EventDecodeError, "not UTF-8"),
        (b"{not json", EventDecodeError, "not valid JSON"),
        (b"[1, 2]", EventDecodeError, "not an object"),
        (b"{}", EventDecodeError, "event_type: missing"),
        (b'{"event_type": "force.update"}', EventDecodeError, "schema_version: missing"),
        (
            b'{"event_type": "force.update", "schema_version": true}',
            EventDecodeError,
            "schema_version: missing or not an integer",
        ),
        (
            b'{"event_type": "shop.burned", "schema_version": 1}',
            UnknownEventTypeError,
            "unknown event type 'shop.burned'",
        ),
        (
            b'{"event_type": "case.routed", "schema_version": 7}',
            UnsupportedSchemaVersionError,
            "has no version 7",
        ),
    ],
)
def test_parse_event_refuses_with_a_clear_error(
    raw: bytes, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        parse_event(raw)


def test_parse_event_validation_errors_carry_paths() -> None:
    data = envelope_data(ReportSubmitted)
    data["payload"]["report"]["items"][0]["unit_value_pence"] = -5
    with pytest.raises(InvalidEventError) as info:
        parse_event(json.dumps(data))
    assert any(
        line.startswith("payload.report.items.0.unit_value_pence:") for line in info.value.errors
    )
    assert isinstance(info.value, ValueError)


def test_parse_event_allowed_models() -> None:
    raw = encode_event(example_envelope(ForceUpdate))
    assert type(parse_event(raw, allowed=[ForceUpdate]).payload) is ForceUpdate
    with pytest.raises(UnexpectedEventTypeError, match=r"expected case\.routed"):
        parse_event(raw, allowed=[CaseRouted])


def test_parse_event_refuses_oversized_messages() -> None:
    with pytest.raises(EventDecodeError, match="limit"):
        parse_event(b" " * (4 * 1024 * 1024 + 1))


def test_parse_event_accepts_str_and_dict() -> None:
    envelope = example_envelope(CaseStatusChanged)
    assert parse_event(envelope.model_dump_json()) == envelope
    assert parse_event(envelope.model_dump(mode="json")) == envelope
    assert envelope.occurred_at - envelope.payload.changed_at == timedelta(0)
