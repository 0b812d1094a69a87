"""The evaluation on a small generated data set, against a relaxed bar."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shopwatch.matching.evaluation import evaluate, main, offenders_of
from shopwatch.matching.geography import distance_km

GENERATOR = Path(__file__).resolve().parents[3] / "bench" / "matching" / "generate.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("matching_generate", GENERATOR)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def records() -> list[dict[str, object]]:
    return list(_generator().generate(people=80, reports=500, seed=3))


def test_generator_is_deterministic_and_carries_truth(records: list[dict[str, object]]) -> None:
    again = list(_generator().generate(people=80, reports=500, seed=3))
    assert again == records
    offenders = [o for r in records for o in r["offenders"]]  # type: ignore[attr-defined]
    assert all("truth_id" in o for o in offenders)
    assert len({o["truth_id"] for o in offenders}) == 80


def test_truth_and_ethnicity_never_reach_the_matcher(records: list[dict[str, object]]) -> None:
    record = next(r for r in records if any("ic_code" in o for o in r["offenders"]))  # type: ignore[attr-defined]
    for f in offenders_of(record):
        assert not hasattr(f, "truth_id") and not hasattr(f, "ic_code")


def test_small_eval_meets_a_relaxed_bar(records: list[dict[str, object]]) -> None:
    out = io.StringIO()
    report = evaluate(records, assignments=out)
    assert report["auto_link"]["pairwise_precision"] >= 0.85
    assert report["top5_recall"] >= 0.6
    assert report["true_people"] == 80
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == report["offenders"] - report["decisions"].get("not_described", 0)
    assert {"profile_id", "candidates", "truth_id", "decision"} <= lines[0].keys()


def test_cli_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "r.jsonl"
    data.write_text(
        "\n".join(json.dumps(r) for r in _generator().generate(people=20, reports=60, seed=1))
    )
    assert main([str(data), "--assignments", str(tmp_path / "a.jsonl")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["reports"] == 60 and (tmp_path / "a.jsonl").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main([str(bad)]) == 2


def test_generated_stores_have_locations_and_a_patch_is_a_few_kilometres_across(
    records: list[dict[str, object]],
) -> None:
    where: dict[str, tuple[float, float]] = {}
    for record in records:
        for f in offenders_of(record):
            assert f.store_location is not None, f"{f.store_id} has no location"
            where[f.store_id] = f.store_location
    assert len(where) > 50
    # Adjacent store numbers (a person's patch) are ~1.5 km apart on their force's ring.
    name = "greater-manchester-store-{:03d}".format
    steps = [
        distance_km(where[name(i)], where[name(i + 1)])
        for i in range(60)
        if name(i) in where and name(i + 1) in where
    ]
    assert steps and all(1.0 < d < 2.0 for d in steps)


@pytest.mark.parametrize(
    "location", [{"latitude": 53.0}, "53.0,-2.0", {"latitude": "north", "longitude": -2.0}]
)
def test_a_malformed_store_location_is_a_clear_error(location: object) -> None:
    record = {
        "report_id": "R1",
        "store_id": "s",
        "force": "greater-manchester",
        "occurred_at": "2025-01-01T10:00:00+00:00",
        "store_location": location,
        "offenders": [{"sex": "male"}],
    }
    with pytest.raises(ValueError, match="store_location"):
        offenders_of(record)
