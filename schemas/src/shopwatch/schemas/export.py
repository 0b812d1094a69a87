"""Export the contract as JSON Schema and example messages; check the export for drift.

    uv run python -m shopwatch.schemas.export            # write schemas/jsonschema/
    uv run python -m shopwatch.schemas.export --check    # exit 1 and list any drift

Files written (all committed):

- ``report.v1.json``: the report a retailer posts (``POST /v1/reports``);
- ``events/<event_type>.v<version>.json``: each event inside its envelope;
- ``topics.json``: the topic registry (names, keys, events, producers, consumers,
  partitions, retention);
- ``examples/<topic>.json``: example messages (a JSON array, one envelope per event
  type the topic carries) for each topic; per-force topics are shown for ``durham``
  (every force's topics carry the same messages).

Writing refuses a change that is not additive against the files already there (a v1
must only grow); ``--allow-breaking`` overrides that for a deliberate break before
anything consumes the schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shopwatch.schemas.compat import breaking_changes_between_sets
from shopwatch.schemas.events import EVENT_MODELS, Event
from shopwatch.schemas.examples import example_envelope
from shopwatch.schemas.registry import envelope_model
from shopwatch.schemas.report import Report
from shopwatch.schemas.topics import all_topics, topics_for_event

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXAMPLE_FORCE = "durham"
DEFAULT_OUT = Path(__file__).resolve().parents[3] / "jsonschema"


def render(document: Any) -> str:
    """Stable text for a JSON document: two-space indent, UTF-8, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _topic_template(name: str, force: str | None) -> str:
    return name.replace(f"force.{force}.", "force.{slug}.") if force else name


def report_schema() -> dict[str, Any]:
    schema = Report.model_json_schema()
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": "urn:shopwatch:schema:report:v1",
        **schema,
        "title": "Report (v1)",
    }


def event_schema(model: type[Event]) -> dict[str, Any]:
    schema = envelope_model(model).model_json_schema()
    props = schema["properties"]
    # The generic envelope says "a string" and "an integer"; for one event they are fixed.
    props["event_type"] = {"const": model.EVENT_TYPE, "type": "string", "title": "Event Type"}
    props["schema_version"] = {
        "const": model.SCHEMA_VERSION,
        "type": "integer",
        "title": "Schema Version",
    }
    topics = sorted({_topic_template(t.name, t.force) for t in topics_for_event(model)})
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:shopwatch:event:{model.EVENT_TYPE}:v{model.SCHEMA_VERSION}",
        **schema,
        "title": f"{model.__name__} (v{model.SCHEMA_VERSION})",
        "x-event-type": model.EVENT_TYPE,
        "x-schema-version": model.SCHEMA_VERSION,
        "x-key": model.KEY_FIELD,
        "x-topics": topics,
    }


def event_schema_path(model: type[Event]) -> str:
    return f"events/{model.EVENT_TYPE}.v{model.SCHEMA_VERSION}.json"


def topics_document() -> dict[str, Any]:
    return {
        "description": (
            "The Shopwatch topic registry (shopwatch.schemas.topics). Names are unprefixed; "
            "a deployment may prefix them all (SHOPWATCH_TOPIC_PREFIX)."
        ),
        "topics": [
            {
                "name": t.name,
                "key": t.key,
                "events": [f"{m.EVENT_TYPE}.v{m.SCHEMA_VERSION}" for m in t.event_models],
                "producers": list(t.producers),
                "consumers": list(t.consumers),
                "partitions": t.partitions,
                "retention_ms": t.retention_ms,
                "config": t.config(),
                "force": t.force,
                "dlq": f"{t.name}.dlq" if t.has_dlq else None,
                "dlq_of": t.dlq_of,
                "description": t.description,
            }
            for t in all_topics()
        ],
    }


def example_documents() -> dict[str, list[dict[str, Any]]]:
    """Topic name -> example messages, for every non-DLQ topic family."""
    docs: dict[str, list[dict[str, Any]]] = {}
    for spec in all_topics():
        if spec.is_dlq or (spec.force is not None and spec.force != EXAMPLE_FORCE):
            continue
        docs[spec.name] = [
            example_envelope(model).model_dump(mode="json") for model in spec.event_models
        ]
    return docs


def expected_files() -> dict[str, str]:
    """Relative path -> file content of the whole export."""
    files = {"report.v1.json": render(report_schema())}
    for model in EVENT_MODELS:
        files[event_schema_path(model)] = render(event_schema(model))
    files["topics.json"] = render(topics_document())
    for name, messages in example_documents().items():
        files[f"examples/{name}.json"] = render(messages)
    return files


def schema_files(files: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The JSON Schemas among export files (the documents compared for compatibility)."""
    return {
        path: json.loads(text)
        for path, text in files.items()
        if path == "report.v1.json" or path.startswith("events/")
    }


def read_tree(out: Path) -> dict[str, str]:
    if not out.is_dir():
        return {}
    return {
        path.relative_to(out).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(out.rglob("*.json"))
    }


def drift(out: Path) -> list[str]:
    """What differs between the files in ``out`` and the models (empty: in sync)."""
    expected = expected_files()
    actual = read_tree(out)
    problems = []
    for path in sorted(expected.keys() | actual.keys()):
        if path not in actual:
            problems.append(f"missing: {path}")
        elif path not in expected:
            problems.append(f"unexpected (no model produces it): {path}")
        elif actual[path] != expected[path]:
            problems.append(f"differs from the models: {path}")
    return problems


def write(out: Path, *, allow_breaking: bool = False) -> tuple[list[str], dict[str, list[str]]]:
    """Write the export; returns (paths written, breaking changes refused)."""
    expected = expected_files()
    actual = read_tree(out)
    breaking = breaking_changes_between_sets(schema_files(actual), schema_files(expected))
    if breaking and not allow_breaking:
        return [], breaking
    written = []
    for path, text in expected.items():
        if actual.get(path) != text:
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(path)
    for path in actual.keys() - expected.keys():
        (out / path).unlink()
        written.append(f"{path} (removed)")
    return written, breaking


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shopwatch.schemas.export", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files have drifted")
    parser.add_argument(
        "--allow-breaking",
        action="store_true",
        help="write even when a v1 schema changes in a non-additive way",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.check:
        problems = drift(out)
        if problems:
            print(f"JSON Schema export in {out} is out of date:", file=sys.stderr)
            for line in problems:
                print(f"  {line}", file=sys.stderr)
            print("run: uv run python -m shopwatch.schemas.export", file=sys.stderr)
            return 1
        print(f"{out}: up to date ({len(expected_files())} files)")
        return 0
    written, breaking = write(out, allow_breaking=args.allow_breaking)
    if breaking and not args.allow_breaking:
        print(
            "refusing to write: these changes are not additive (a v1 must only grow):",
            file=sys.stderr,
        )
        for path, lines in breaking.items():
            for line in lines:
                print(f"  {path}: {line}", file=sys.stderr)
        print("make a new event version instead, or pass --allow-breaking", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"{out}: {len(written)} file(s) changed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
