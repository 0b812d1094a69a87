"""The committed contract (schemas/jsonschema/) matches the models and only ever grows.

- drift: the committed files are exactly what ``python -m shopwatch.schemas.export``
  writes today (run it after changing a model, and commit the result);
- additive: compared with the committed files *and* with every version of them in
  git history, no v1 field was removed, no type narrowed, no required field added;
- examples: every committed example message decodes with the models and validates
  against its committed JSON Schema.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shopwatch.schemas.compat import breaking_changes_between_sets
from shopwatch.schemas.events import EVENT_MODELS
from shopwatch.schemas.export import (
    DEFAULT_OUT,
    drift,
    event_schema_path,
    expected_files,
    main,
    read_tree,
    schema_files,
    write,
)
from shopwatch.schemas.registry import parse_event
from shopwatch.schemas.topics import all_topics, topic

REPO = Path(__file__).resolve().parents[2]
EXPORT = DEFAULT_OUT
EXPORT_IN_REPO = EXPORT.relative_to(REPO).as_posix()


def test_export_location_is_the_repository_folder() -> None:
    assert EXPORT == REPO / "schemas" / "jsonschema"


def test_committed_schemas_match_the_models() -> None:
    problems = drift(EXPORT)
    assert problems == [], (
        "schemas/jsonschema/ is out of date; run `uv run python -m shopwatch.schemas.export` "
        "and commit the result:\n" + "\n".join(problems)
    )


def test_every_event_and_the_report_are_exported() -> None:
    files = read_tree(EXPORT)
    assert "report.v1.json" in files
    for model in EVENT_MODELS:
        schema = json.loads(files[event_schema_path(model)])
        assert schema["x-event-type"] == model.EVENT_TYPE
        assert schema["properties"]["event_type"]["const"] == model.EVENT_TYPE
        assert schema["$schema"].endswith("2020-12/schema")


def test_models_are_an_additive_change_of_the_committed_schemas() -> None:
    committed = schema_files(read_tree(EXPORT))
    current = schema_files(expected_files())
    assert breaking_changes_between_sets(committed, current) == {}


def _git(*args: str) -> str:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    result = subprocess.run(
        [git, "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def historical_schemas() -> dict[str, dict[str, dict[str, Any]]]:
    """commit -> {relative path: schema} for every commit that touched the export."""
    commits = _git("log", "--format=%H", "--", EXPORT_IN_REPO).split()
    history: dict[str, dict[str, dict[str, Any]]] = {}
    for commit in commits:
        listing = _git("ls-tree", "-r", "--name-only", commit, "--", EXPORT_IN_REPO).split()
        texts = {
            path.removeprefix(EXPORT_IN_REPO + "/"): _git("show", f"{commit}:{path}")
            for path in listing
            if path.endswith(".json")
        }
        history[commit] = schema_files(texts)
    return history


def test_models_are_an_additive_change_of_every_committed_version() -> None:
    history = historical_schemas()
    if not history:
        pytest.skip("no committed version of schemas/jsonschema yet")
    current = schema_files(expected_files())
    broken = {
        commit[:10]: problems
        for commit, old in history.items()
        if (problems := breaking_changes_between_sets(old, current))
    }
    assert broken == {}, (
        "a v1 schema changed in a way that breaks messages valid under an earlier "
        "committed version; add a new event version instead:\n" + json.dumps(broken, indent=2)
    )


# --- example messages -----------------------------------------------------------------


def example_files() -> dict[str, list[dict[str, Any]]]:
    return {
        path.removeprefix("examples/").removesuffix(".json"): json.loads(text)
        for path, text in read_tree(EXPORT).items()
        if path.startswith("examples/")
    }


def test_every_topic_family_has_examples() -> None:
    examples = example_files()
    families = {
        t.name for t in all_topics() if not t.is_dlq and (t.force is None or t.force == "durham")
    }
    assert set(examples) == families


def test_examples_decode_with_the_models_of_their_topic() -> None:
    for name, messages in example_files().items():
        spec = topic(name)
        assert len(messages) == len(spec.event_models)
        for message, model in zip(messages, spec.event_models, strict=True):
            envelope = parse_event(message, allowed=spec.event_models)
            assert type(envelope.payload) is model
            assert envelope.payload.key()


def test_examples_validate_against_the_committed_json_schema() -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    files = read_tree(EXPORT)
    validators = {
        model.EVENT_TYPE: jsonschema_rs.validator_for(json.loads(files[event_schema_path(model)]))
        for model in EVENT_MODELS
    }
    for name, messages in example_files().items():
        for message in messages:
            validator = validators[message["event_type"]]
            errors = [str(e) for e in validator.iter_errors(message)]
            assert errors == [], f"{name}: {errors}"
    # And a broken message is refused by the schema as by the models.
    message = example_files()["force.durham.updates.v1"][0]
    message["payload"]["force"] = "gotham"
    assert not validators["force.update"].is_valid(message)


# --- the export command ---------------------------------------------------------------


def test_check_command_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_command_lists_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "report.v1.json").write_text("{}\n")
    (tmp_path / "events" / "case.routed.v1.json").unlink()
    (tmp_path / "events" / "stale.v1.json").write_text("{}\n")
    capsys.readouterr()
    assert main(["--out", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "differs from the models: report.v1.json" in err
    assert "missing: events/case.routed.v1.json" in err
    assert "unexpected (no model produces it): events/stale.v1.json" in err


def test_export_refuses_a_breaking_change(tmp_path: Path) -> None:
    written, breaking = write(tmp_path)
    assert written and not breaking
    # Pretend the committed ForceUpdate had a field the model no longer has.
    path = tmp_path / event_schema_path(EVENT_MODELS[6])
    schema = json.loads(path.read_text())
    schema["$defs"]["ForceUpdate"]["properties"]["badge"] = {"type": "string"}
    path.write_text(json.dumps(schema))
    written, breaking = write(tmp_path)
    assert written == []
    assert breaking == {"events/force.update.v1.json": ["payload.badge: field removed"]}
    assert main(["--out", str(tmp_path)]) == 2
    written, breaking = write(tmp_path, allow_breaking=True)
    assert "events/force.update.v1.json" in written
