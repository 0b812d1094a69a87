"""Export each service's AsyncAPI document from its FastStream broker.

`python -m shopwatch.runtime.asyncapi_export [--check]` wires every service the way its
process does (nothing is started or connected) and writes `services/<name>/asyncapi.json`;
`--check` fails when a committed document differs from what the code declares.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from shopwatch.runtime.service_main import Service

SERVICES = ("intake", "evidence", "routing", "matching", "notify")
REPO = Path(__file__).resolve().parents[4]


def document(name: str) -> dict[str, Any]:
    config = importlib.import_module(f"shopwatch.{name}.config")
    app = importlib.import_module(f"shopwatch.{name}.app")
    settings_class = next(
        value
        for key, value in vars(config).items()
        if key.endswith("Settings") and getattr(value, "__module__", "") == config.__name__
    )
    # An empty prefix: the document describes the logical topics of the registry.
    service: Service[Any] = Service(settings_class(topic_prefix=""))
    app.wire(service)
    spec = AsyncAPI(
        service.broker,
        title=f"Shopwatch {name}",
        version="1.0.0",
        description=f"The Kafka topics the {name} service consumes and publishes.",
    )
    jsonable: dict[str, Any] = spec.to_specification().to_jsonable()
    return jsonable


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shopwatch.runtime.asyncapi_export")
    parser.add_argument("--check", action="store_true", help="compare with the committed files")
    args = parser.parse_args(argv)
    stale = []
    for name in SERVICES:
        path = REPO / "services" / name / "asyncapi.json"
        text = render(document(name))
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date (run python -m shopwatch.runtime.asyncapi_export):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
