"""Every validation rule of the report, each failing with the field path in the error."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from shopwatch.schemas import primitives
from shopwatch.schemas.examples import example_report, example_store
from shopwatch.schemas.report import Item, OffenderDescription, Report, StoreSnapshot


def errors(model: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}


def report_data() -> dict[str, Any]:
    return example_report().model_dump(mode="json")


def with_change(path: str, value: Any) -> dict[str, Any]:
    data = report_data()
    node: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


def test_the_example_is_valid_and_round_trips() -> None:
    report = example_report()
    assert Report.model_validate_json(report.model_dump_json()) == report
    assert report.total_value_pence == 4 * 1250 + 6 * 475
    assert report.unrecovered_value_pence == 4 * 1250


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("items.0.unit_value_pence", -1, "greater than or equal to 0"),
        ("items.0.unit_value_pence", 12.5, "valid integer"),
        ("items.0.quantity", 0, "greater than or equal to 1"),
        ("items.0.description", "x" * 501, "at most 500"),
        ("items.0.description", "   ", "at least 1"),
        ("account", "x" * 10_001, "at most 10000"),
        ("account", "bad\x00byte", "control characters"),
        ("offence_type", "shoplifting", "Input should be"),
        ("store_id", "../etc/passwd", "should match pattern"),
        ("offenders.0.age_max", 20, "age_max (20) must not be less than age_min (25)"),
        ("offenders.0.height_max_cm", 100, "must not be less than height_min_cm (175)"),
        ("offenders.0.age_min", -3, "greater than or equal to 0"),
        ("offenders.0.height_min_cm", 400, "less than or equal to 250"),
        ("offenders.0.ic_code", "IC7", "Input should be"),
        ("offenders.0.vehicle_registration", "AB12 CD€", "letters and digits"),
        ("offenders.0.name", "two\nlines", "single line"),
        ("offenders.0.aliases", ["a"] * 11, "at most 10"),
        ("reporter.email", "not-an-email", "email"),
        ("reporter.phone", "call me", "should match pattern"),
        ("witness_statement.declaration_accepted", False, "s.9 Criminal Justice Act 1967"),
        ("witness_statement.statement", "", "at least 1"),
        ("witness_statement.unavailable_dates", ["2026-12-01"] * 61, "at most 60"),
        ("flags.staff_injured", "perhaps", "valid boolean"),
        ("occurred_at", "2026-11-02T14:37:00", "timezone"),
        ("unknown_field", 1, "Extra inputs are not permitted"),
        ("items.0.colour", "red", "Extra inputs are not permitted"),
    ],
)
def test_invalid_report_fields_are_named_in_the_error(path: str, value: Any, fragment: str) -> None:
    found = errors(Report, with_change(path, value))
    assert path in found, found
    assert fragment in found[path]


def test_too_many_items_and_offenders() -> None:
    data = report_data()
    data["items"] = data["items"][:1] * 101
    data["offenders"] = data["offenders"][:1] * 21
    found = errors(Report, data)
    assert "at most 100" in found["items"]
    assert "at most 20" in found["offenders"]


def test_missing_required_fields_are_listed() -> None:
    data = report_data()
    for name in ("occurred_at", "offence_type", "account", "reporter", "store_id"):
        del data[name]
    assert set(errors(Report, data)) == {
        "occurred_at",
        "offence_type",
        "account",
        "reporter",
        "store_id",
    }


def test_occurred_at_in_the_future_is_refused_beyond_clock_skew() -> None:
    now = datetime.now(UTC)
    later = (now + timedelta(minutes=10)).isoformat()
    found = errors(Report, with_change("occurred_at", later))
    assert "must not be in the future" in found["occurred_at"]
    # Within the allowed skew: accepted.
    soon = (now + primitives.MAX_CLOCK_SKEW - timedelta(seconds=30)).isoformat()
    Report.model_validate(with_change("occurred_at", soon))


def test_occurred_at_uses_the_patchable_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    data = report_data()
    monkeypatch.setattr(primitives, "utc_now", lambda: datetime(2000, 1, 1, tzinfo=UTC))
    found = errors(Report, data)
    assert "occurred_at" in found


def test_aware_datetimes_are_normalised_to_utc() -> None:
    data = with_change("occurred_at", "2026-11-02T15:37:00+01:00")
    report = Report.model_validate(data)
    assert report.occurred_at == datetime(2026, 11, 2, 14, 37, tzinfo=UTC)
    assert report.occurred_at.utcoffset() == timedelta(0)


def test_witness_consenting_to_contact_needs_a_contact_route() -> None:
    data = report_data()
    data["witness_statement"]["contact"] = {}
    found = errors(Report, data)
    assert "neither an email nor a phone" in found["witness_statement.consent_to_contact"]
    data["witness_statement"]["consent_to_contact"] = False
    Report.model_validate(data)


def test_strings_are_trimmed_and_registrations_normalised() -> None:
    data = report_data()
    data["offenders"][0]["vehicle_registration"] = " nk19-xyz "
    data["account"] = "  Took coffee.  "
    report = Report.model_validate(data)
    assert report.offenders[0].vehicle_registration == "NK19XYZ"
    assert report.account == "Took coffee."


def test_offender_description_is_all_optional() -> None:
    offender = OffenderDescription()
    assert offender.sex == "unknown"
    assert offender.ic_code is None


def test_item_total_value() -> None:
    assert Item(description="Razor blades", quantity=3, unit_value_pence=899).total_value_pence == (
        2697
    )


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        ("postcode", "ZZ1 1ZZ", "not a valid UK postcode"),
        ("postcode", "12345", "not a valid UK postcode"),
        ("postcode", "SW1A 1AA SW1A 1AA", "at most 8"),
        ("force_override", "gotham", "unknown force slug 'gotham'"),
        ("location.latitude", 10.0, "greater than or equal to 49"),
        ("address_lines", [], "at least 1"),
        ("name", "", "at least 1"),
    ],
)
def test_invalid_store_fields(path: str, value: Any, fragment: str) -> None:
    data = example_store().model_dump(mode="json")
    node = data
    *head, last = path.split(".")
    for part in head:
        node = node[part]
    node[last] = value
    found = errors(StoreSnapshot, data)
    assert path in found, found
    assert fragment in found[path]


def test_store_postcode_is_normalised() -> None:
    data = example_store().model_dump(mode="json")
    data["postcode"] = "dh13nj"
    assert StoreSnapshot.model_validate(data).postcode == "DH1 3NJ"


def test_models_are_immutable() -> None:
    report = example_report()
    with pytest.raises(ValidationError):
        report.account = "changed"  # type: ignore[misc]
    assert copy.deepcopy(report) == report
