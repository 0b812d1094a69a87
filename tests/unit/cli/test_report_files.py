import json
from pathlib import Path

import pytest

from shopwatch.cli.report_files import count_entries, idempotency_key_for, read_entries, unflatten


def test_unflatten_builds_nested_objects_and_lists() -> None:
    flat = {
        "store_id": "st_1",
        "reporter.name": "Jo Smith",
        "items.0.description": "razors",
        "items.0.quantity": "3",
        "items.1.description": "coffee",
        "offenders.0.sex": "male",
        "flags.staff_injured": "TRUE",
    }
    assert unflatten(flat) == {
        "store_id": "st_1",
        "reporter": {"name": "Jo Smith"},
        "items": [{"description": "razors", "quantity": "3"}, {"description": "coffee"}],
        "offenders": [{"sex": "male"}],
        "flags": {"staff_injured": True},
    }


def test_unflatten_refuses_absurd_indexes() -> None:
    with pytest.raises(ValueError, match="not a list index"):
        unflatten({"items.0.x": "1", "items.99999.x": "2"})


def test_idempotency_key_prefers_the_retailers_reference_and_is_stable() -> None:
    assert idempotency_key_for({"retailer_incident_ref": "INC-9"}) == "ref:INC-9"
    a = idempotency_key_for({"a": 1, "b": 2})
    assert a == idempotency_key_for({"b": 2, "a": 1})
    assert a != idempotency_key_for({"a": 1, "b": 3})


def test_jsonl_reading_reports_bad_lines_with_their_number(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    lines = [
        json.dumps({"store_id": "s"}),
        "{not json",
        "[1, 2]",
        "",
        json.dumps({"idempotency_key": "k-1", "report": {"store_id": "t"}}),
    ]
    path.write_text("\n".join(lines) + "\n")
    entries = list(read_entries(path))
    assert [e.line for e in entries] == [1, 2, 3, 5]
    assert entries[0].report == {"store_id": "s"} and entries[0].idempotency_key
    assert entries[1].report is None and "not valid JSON" in (entries[1].error or "")
    assert entries[2].report is None and "JSON object" in (entries[2].error or "")
    assert entries[3].idempotency_key == "k-1" and entries[3].report == {"store_id": "t"}
    assert count_entries(path) == 4


def test_csv_rows_are_numbered_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("store_id,items.0.description,offenders.0.sex\nst_1,gin,\nst_2,,female\n")
    entries = list(read_entries(path))
    assert [e.line for e in entries] == [2, 3]
    assert entries[0].report == {"store_id": "st_1", "items": [{"description": "gin"}]}
    assert entries[1].report == {"store_id": "st_2", "offenders": [{"sex": "female"}]}
    assert count_entries(path) == 2
