"""`shopwatch matching eval` on a small generated file: real figures, recomputable."""

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_eval_prints_figures_and_writes_assignments(tmp_path: Path) -> None:
    data = tmp_path / "reports.jsonl"
    made = run(
        "bench/matching/generate.py",
        "--people",
        "60",
        "--reports",
        "400",
        "--seed",
        "3",
        "--out",
        str(data),
    )
    assert made.returncode == 0, made.stderr
    out = tmp_path / "assignments.jsonl"
    result = run("-m", "shopwatch.cli", "matching", "eval", str(data), "--assignments", str(out))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    auto = figures["auto_link"]
    assert figures["reports"] == 400 and figures["true_people"] == 60
    if auto["predicted_pairs"]:
        assert auto["pairwise_precision"] == round(
            auto["correct_pairs"] / auto["predicted_pairs"], 4
        )
    assert 0 <= figures["top5_recall"] <= 1
    # One line per offender of every report, so anyone can recompute the figures.
    assert len(out.read_text().splitlines()) == figures["offenders"]


def test_eval_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run("-m", "shopwatch.cli", "matching", "eval", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
