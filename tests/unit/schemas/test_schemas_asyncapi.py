"""AsyncAPI document checks: a hand-made document, and one FastStream generates."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shopwatch.schemas.asyncapi import main, registry_topic_names, validate_asyncapi


def small_doc() -> dict[str, Any]:
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "routing", "version": "1"},
        "channels": {
            "reports": {
                "address": "reports.submitted.v1",
                "messages": {"ReportSubmitted": {"$ref": "#/components/messages/ReportSubmitted"}},
            }
        },
        "operations": {
            "consumeReports": {
                "action": "receive",
                "channel": {"$ref": "#/channels/reports"},
                "messages": [{"$ref": "#/channels/reports/messages/ReportSubmitted"}],
            }
        },
        "components": {
            "messages": {
                "ReportSubmitted": {"payload": {"$ref": "#/components/schemas/Envelope%5BR%5D"}}
            },
            "schemas": {"Envelope[R]": {"type": "object", "properties": {}}},
        },
    }


def test_small_document_is_valid() -> None:
    assert validate_asyncapi(small_doc(), known_topics=registry_topic_names()) == []


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d.pop("asyncapi"), "asyncapi: expected a version"),
        (lambda d: d.update(asyncapi="1.2.0"), "asyncapi: expected a version"),
        (lambda d: d["info"].pop("title"), "info.title: missing"),
        (lambda d: d.update(channels={}), "channels: missing or empty"),
        (
            lambda d: d["components"]["messages"]["ReportSubmitted"].pop("payload"),
            "message has no payload",
        ),
        (lambda d: d["components"].pop("schemas"), "does not resolve"),
        (
            lambda d: d["operations"]["consumeReports"].update(action="listen"),
            "action: must be 'send' or 'receive'",
        ),
        (
            lambda d: d["operations"]["consumeReports"].update(channel={"$ref": "#/nowhere"}),
            "channel: must be a $ref to a channel",
        ),
        (lambda d: d["channels"]["reports"].update(messages={}), "messages: missing or empty"),
        (
            lambda d: d["channels"]["reports"].update(address="reports.submitted.v9"),
            "not in the topic registry",
        ),
    ],
)
def test_broken_documents_are_reported(edit: Any, fragment: str) -> None:
    doc = small_doc()
    edit(doc)
    problems = validate_asyncapi(doc, known_topics=registry_topic_names())
    assert any(fragment in p for p in problems), problems


def test_not_an_object() -> None:
    assert validate_asyncapi([]) == ["document: must be a JSON object"]


def test_prefix_is_stripped_before_the_registry_check() -> None:
    doc = small_doc()
    doc["channels"]["reports"]["address"] = "t-42.reports.submitted.v1"
    assert validate_asyncapi(doc, known_topics=registry_topic_names(), prefix="t-42") == []
    problems = validate_asyncapi(doc, known_topics=registry_topic_names(), prefix="t-43")
    assert any("lacks the prefix" in p for p in problems)


def test_asyncapi_2_document() -> None:
    doc: dict[str, Any] = {
        "asyncapi": "2.6.0",
        "info": {"title": "notify", "version": "1"},
        "channels": {
            "cases.status-changed.v1": {
                "subscribe": {"message": {"payload": {"type": "object"}}},
            }
        },
    }
    assert validate_asyncapi(doc, known_topics=registry_topic_names()) == []
    doc["channels"]["cases.status-changed.v1"] = {}
    assert any("neither a publish nor a subscribe" in p for p in validate_asyncapi(doc))


def faststream_document(schema_version: str) -> Any:
    faststream = pytest.importorskip("faststream")
    from faststream.kafka import KafkaBroker
    from faststream.specification import AsyncAPI

    from shopwatch.schemas.envelope import Envelope
    from shopwatch.schemas.events import CaseRouted, ReportSubmitted

    assert faststream
    broker = KafkaBroker("127.0.0.1:9092")
    publisher = broker.publisher("force.durham.cases.v1")

    @broker.subscriber("reports.submitted.v1", group_id="routing")
    @publisher
    async def handle(message: Envelope[ReportSubmitted]) -> Envelope[CaseRouted]:
        raise NotImplementedError

    spec = AsyncAPI(broker, title="routing", version="1", schema_version=schema_version)
    return spec.to_specification().to_jsonable()


@pytest.mark.parametrize("schema_version", ["3.0.0", "2.6.0"])
def test_a_document_generated_by_faststream_is_valid(schema_version: str) -> None:
    doc = faststream_document(schema_version)
    assert validate_asyncapi(doc, known_topics=registry_topic_names()) == []
    broken = copy.deepcopy(doc)
    broken["components"]["schemas"] = {}
    assert validate_asyncapi(broken)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(small_doc()))
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main([str(good)]) == 0
    assert main([str(good), str(bad)]) == 1
    assert "bad.json: asyncapi" in capsys.readouterr().err
