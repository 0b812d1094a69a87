"""Ethnicity (IC codes) reaches the owning force only."""

from __future__ import annotations

import json

from shopwatch.schemas.enums import IcCode
from shopwatch.schemas.events import CaseRouted, MatchingRequested, ReportSubmitted
from shopwatch.schemas.examples import example_event, example_report
from shopwatch.schemas.export import event_schema, report_schema
from shopwatch.schemas.report import Report
from shopwatch.schemas.sensitive import (
    contains_sensitive,
    redact_for,
    sensitive_paths,
    strip_sensitive,
)


def test_sensitive_fields_are_marked_in_the_schema() -> None:
    schema = report_schema()
    ic = schema["$defs"]["OffenderDescription"]["properties"]["ic_code"]
    assert ic["x-sensitive"] is True
    assert "ic_code" not in schema["$defs"]["OffenderDescription"].get("required", [])
    assert '"x-sensitive": true' in json.dumps(event_schema(CaseRouted))


def test_sensitive_paths() -> None:
    assert sensitive_paths(Report) == ["offenders[].ic_code"]
    assert sensitive_paths(ReportSubmitted) == ["report.offenders[].ic_code"]
    assert sensitive_paths(CaseRouted) == ["report.offenders[].ic_code"]


def test_strip_sensitive_removes_ic_codes_recursively() -> None:
    routed = example_event(CaseRouted)
    assert routed.report.offenders[0].ic_code is IcCode.IC1
    stripped = strip_sensitive(routed)
    assert stripped.report.offenders[0].ic_code is None
    assert routed.report.offenders[0].ic_code is IcCode.IC1  # original untouched
    assert stripped.report.offenders[0].name == routed.report.offenders[0].name
    assert contains_sensitive(routed) and not contains_sensitive(stripped)
    assert "IC1" not in stripped.model_dump_json()


def test_strip_returns_the_same_object_when_clean() -> None:
    clean = example_event(MatchingRequested)
    assert strip_sensitive(clean) is clean


def test_redact_for_audience() -> None:
    routed = example_event(CaseRouted)
    assert redact_for(routed, audience_force="durham", owning_force="durham") is routed
    other = redact_for(routed, audience_force="cleveland", owning_force="durham")
    assert other.report.offenders[0].ic_code is None
    nobody = redact_for(example_report(), audience_force=None, owning_force="durham")
    assert nobody.offenders[0].ic_code is None
