"""Is a new JSON Schema a compatible (additive) evolution of an old one?

Version 1 of an event may only grow: a consumer built on the new schema must accept
every message that was valid under the old one. ``breaking_changes(old, new)`` walks
both documents side by side (following local ``$ref``s) and lists what breaks that:

- a field removed;
- a new required field, or an optional field made required;
- a type narrowed: an alternative no longer accepted (``null``, ``string``, ...),
  an integer made a string, a ``number`` made an ``integer``;
- an enum value removed, a ``const`` changed or added;
- a tighter bound: ``maxLength``/``maxItems``/``maximum`` lowered,
  ``minLength``/``minItems``/``minimum`` raised, a ``pattern`` or ``format`` added or
  changed (patterns cannot be compared, so any change counts);
- extra properties forbidden where they were allowed.

It works on the documents only, so it can compare the committed files against the
models, or any historical version against today's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

_LOWER_BOUNDS = ("minLength", "minItems", "minimum", "exclusiveMinimum", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "maxProperties")


class _Walker:
    def __init__(self, old_doc: Schema, new_doc: Schema) -> None:
        self.old_doc = old_doc
        self.new_doc = new_doc
        self.problems: list[str] = []
        self._seen: set[tuple[str, str]] = set()

    def _resolve(self, node: Schema, doc: Schema) -> tuple[Schema, str | None]:
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return node, None
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, not {ref!r}")
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        # Siblings of $ref (pydantic puts "default" or "description" there) are kept.
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return merged, ref

    def _alternatives(self, node: Schema, doc: Schema) -> list[Schema]:
        node, _ = self._resolve(node, doc)
        for key in ("anyOf", "oneOf"):
            if key in node:
                found: list[Schema] = []
                for alt in node[key]:
                    found.extend(self._alternatives(alt, doc))
                return found
        types = node.get("type")
        if isinstance(types, list):
            return [{**node, "type": t} for t in types]
        return [node]

    def compare(self, old: Schema, new: Schema, path: str) -> None:
        old_r, old_ref = self._resolve(old, self.old_doc)
        new_r, new_ref = self._resolve(new, self.new_doc)
        if old_ref is not None or new_ref is not None:
            # Each pair of definitions is compared once: a changed definition is reported
            # at the first path that reaches it, and recursive schemas terminate.
            marker = (old_ref or "", new_ref or "")
            if marker in self._seen:
                return
            self._seen.add(marker)
        old_alts = self._alternatives(old_r, self.old_doc)
        new_alts = self._alternatives(new_r, self.new_doc)
        if not new_alts or any(_kind(a) == "any" for a in new_alts):
            return  # the new schema accepts anything here
        for alt in old_alts:
            kind = _kind(alt)
            match = _best_match(kind, new_alts)
            if match is None:
                accepted = ", ".join(sorted({_kind(a) for a in new_alts}))
                self.problems.append(
                    f"{path}: type narrowed: {kind} is no longer accepted (now {accepted})"
                )
                continue
            self._compare_same_kind(alt, match, kind, path)

    def _compare_same_kind(self, old: Schema, new: Schema, kind: str, path: str) -> None:
        if "const" in new and old.get("const", _MISSING) != new["const"]:
            self.problems.append(
                f"{path}: value narrowed to the constant {new['const']!r}"
                + (f" (was {old['const']!r})" if "const" in old else "")
            )
        if "enum" in new:
            if "enum" not in old and "const" not in old:
                self.problems.append(f"{path}: values narrowed to an enum {new['enum']!r}")
            else:
                old_values = old.get("enum", [old.get("const")])
                removed = [v for v in old_values if v not in new["enum"]]
                if removed:
                    self.problems.append(f"{path}: enum values removed: {removed!r}")
        for bound in _UPPER_BOUNDS:
            if bound in new and (bound not in old or new[bound] < old[bound]):
                was = old.get(bound, "none")
                self.problems.append(f"{path}: {bound} tightened to {new[bound]} (was {was})")
        for bound in _LOWER_BOUNDS:
            if bound in new and (bound not in old or new[bound] > old[bound]):
                was = old.get(bound, "none")
                self.problems.append(f"{path}: {bound} tightened to {new[bound]} (was {was})")
        for key in ("pattern", "format", "multipleOf"):
            if key in new and old.get(key) != new[key]:
                was = old.get(key, "none")
                self.problems.append(f"{path}: {key} changed to {new[key]!r} (was {was!r})")
        if kind == "object":
            self._compare_objects(old, new, path)
        elif kind == "array":
            old_items, new_items = old.get("items"), new.get("items")
            if isinstance(old_items, Mapping) and isinstance(new_items, Mapping):
                self.compare(old_items, new_items, f"{path}[]")
            elif new_items is not None and old_items is None:
                self.problems.append(f"{path}: array items constrained where they were not")

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> None:
        old_props: Mapping[str, Any] = old.get("properties", {})
        new_props: Mapping[str, Any] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        for name, old_prop in old_props.items():
            where = f"{path}.{name}" if path else name
            if name not in new_props:
                self.problems.append(f"{where}: field removed")
                continue
            self.compare(old_prop, new_props[name], where)
        for name in sorted(new_required - old_required):
            where = f"{path}.{name}" if path else name
            if name in old_props:
                self.problems.append(f"{where}: optional field became required")
            else:
                self.problems.append(f"{where}: new required field")
        old_extra = old.get("additionalProperties", True)
        new_extra = new.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            self.problems.append(f"{path or '(root)'}: additional properties are now forbidden")
        elif isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
            self.compare(old_extra, new_extra, f"{path}.*" if path else "*")


_MISSING = object()


def _kind(node: Schema) -> str:
    kind = node.get("type")
    if isinstance(kind, str):
        return kind
    if "properties" in node:
        return "object"
    if "const" in node:
        return type_name(node["const"])
    if node.get("enum"):
        kinds = {type_name(v) for v in node["enum"]}
        return kinds.pop() if len(kinds) == 1 else "any"
    return "any"


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _best_match(kind: str, alternatives: list[Schema]) -> Schema | None:
    for alt in alternatives:
        if _kind(alt) == kind:
            return alt
    if kind == "integer":  # an integer is still a valid number
        for alt in alternatives:
            if _kind(alt) == "number":
                return alt
    return None


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Every way ``new`` would refuse a document ``old`` accepted (empty: additive)."""
    walker = _Walker(old, new)
    walker.compare(old, new, "")
    return walker.problems


def breaking_changes_between_sets(
    old: Mapping[str, Schema], new: Mapping[str, Schema]
) -> dict[str, list[str]]:
    """Compare whole exports (file name -> schema); a removed schema is breaking too."""
    result: dict[str, list[str]] = {}
    for name, old_schema in old.items():
        if name not in new:
            result[name] = ["schema removed (a v1 event or the report may not disappear)"]
            continue
        problems = breaking_changes(old_schema, new[name])
        if problems:
            result[name] = problems
    return result
