"""The additive-change checker, on small hand-made JSON Schemas."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shopwatch.schemas.compat import breaking_changes, breaking_changes_between_sets
from shopwatch.schemas.events import EVENT_MODELS
from shopwatch.schemas.export import event_schema, report_schema

BASE: dict[str, Any] = {
    "$defs": {
        "Colour": {"enum": ["red", "green"], "type": "string"},
        "Item": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "maxLength": 100},
                "count": {"type": "integer", "minimum": 0, "maximum": 10},
                "price": {"type": "number"},
                "colour": {"$ref": "#/$defs/Colour"},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            },
            "required": ["name", "count"],
        },
    },
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "event_type": {"const": "thing.happened", "type": "string"},
        "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "maxItems": 5},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["event_type", "items"],
}


def changed(edit: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    edit(doc)
    return doc


def item(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["$defs"]["Item"]
    return result


def test_identical_is_compatible() -> None:
    assert breaking_changes(BASE, copy.deepcopy(BASE)) == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: item(d)["properties"].update(extra={"type": "string"}),  # optional field added
        lambda d: d["$defs"]["Colour"]["enum"].append("blue"),  # enum value added
        lambda d: item(d)["properties"]["name"].update(maxLength=200),  # bound relaxed
        lambda d: item(d)["properties"]["count"].update(minimum=-5),
        lambda d: item(d)["properties"]["count"].update(type="number"),  # integer -> number
        lambda d: item(d).update(required=["name"]),  # required made optional
        lambda d: item(d)["properties"].update(
            name={"anyOf": [{"type": "string"}, {"type": "null"}]}
        ),  # nullable now
        lambda d: d["properties"]["items"].pop("maxItems"),
    ],
    ids=[
        "optional field",
        "enum value",
        "longer",
        "lower min",
        "int to number",
        "made optional",
        "nullable",
        "no max items",
    ],
)
def test_additive_changes_pass(edit: Any) -> None:
    assert breaking_changes(BASE, changed(edit)) == []


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: item(d)["properties"].pop("price"), "items[].price: field removed"),
        (lambda d: d["properties"].pop("tags"), "tags: field removed"),
        (
            lambda d: (
                item(d)["properties"].update(size={"type": "integer"}),
                item(d)["required"].append("size"),
            ),
            "items[].size: new required field",
        ),
        (
            lambda d: item(d)["required"].append("price"),
            "items[].price: optional field became required",
        ),
        (
            lambda d: item(d)["properties"]["count"].update(type="string"),
            "items[].count: type narrowed: integer",
        ),
        (
            lambda d: item(d)["properties"]["price"].update(type="integer"),
            "items[].price: type narrowed: number",
        ),
        (
            lambda d: item(d)["properties"].update(note={"type": "string"}),
            "items[].note: type narrowed: null",
        ),
        (lambda d: d["$defs"]["Colour"]["enum"].remove("green"), "enum values removed: ['green']"),
        (
            lambda d: item(d)["properties"]["name"].update(maxLength=50),
            "maxLength tightened to 50",
        ),
        (
            lambda d: item(d)["properties"]["count"].update(minimum=1),
            "minimum tightened to 1",
        ),
        (lambda d: d["properties"]["items"].update(maxItems=2), "maxItems tightened to 2"),
        (
            lambda d: item(d)["properties"]["name"].update(pattern="^[a-z]+$"),
            "pattern changed",
        ),
        (
            lambda d: d["properties"]["event_type"].update(const="thing.changed"),
            "constant 'thing.changed'",
        ),
        (
            lambda d: d["properties"]["tags"].update(items={"type": "integer"}),
            "tags[]: type narrowed: string",
        ),
        (
            lambda d: d["properties"]["tags"]["items"].update(enum=["a"]),
            "tags[]: values narrowed to an enum",
        ),
    ],
    ids=[
        "nested field removed",
        "top field removed",
        "new required",
        "became required",
        "int to string",
        "number to integer",
        "not nullable",
        "enum value removed",
        "shorter",
        "higher min",
        "fewer items",
        "pattern",
        "const",
        "item type",
        "enum added",
    ],
)
def test_breaking_changes_are_reported(edit: Any, fragment: str) -> None:
    problems = breaking_changes(BASE, changed(edit))
    assert any(fragment in p for p in problems), problems


def test_forbidding_extra_properties_is_breaking() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}}}
    new = {**old, "additionalProperties": False}
    assert breaking_changes(old, new) == ["(root): additional properties are now forbidden"]


def test_removed_schema_file_is_breaking() -> None:
    result = breaking_changes_between_sets({"a.json": BASE, "b.json": BASE}, {"a.json": BASE})
    assert list(result) == ["b.json"]
    assert "schema removed" in result["b.json"][0]


def test_real_schemas_are_compatible_with_themselves() -> None:
    for schema in [report_schema(), *(event_schema(m) for m in EVENT_MODELS)]:
        assert breaking_changes(schema, copy.deepcopy(schema)) == []


def test_real_schema_detects_a_removed_payload_field() -> None:
    from shopwatch.schemas.events import ForceUpdate

    old = event_schema(ForceUpdate)
    new = copy.deepcopy(old)
    del new["$defs"]["ForceUpdate"]["properties"]["note"]
    new["$defs"]["ForceUpdate"]["required"].append("officer")
    problems = breaking_changes(old, new)
    assert "payload.note: field removed" in problems
    assert "payload.officer: optional field became required" in problems


def test_recursive_refs_terminate() -> None:
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
        "$ref": "#/$defs/Node",
    }
    assert breaking_changes(tree, copy.deepcopy(tree)) == []
