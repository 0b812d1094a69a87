"""Special category data: find it, and strip it for anyone but the owning force.

A field is sensitive when its JSON Schema carries ``"x-sensitive": true`` (declared
with ``primitives.sensitive()``; today the offenders' IC codes). DPA 2018 s.35 allows
that processing for the force that owns the case only, so everything that leaves
for anyone else (another force, matching, notify, logs) goes through
``redact_for`` or ``strip_sensitive``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)

SENSITIVE_MARK = "x-sensitive"


def is_sensitive_field(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get(SENSITIVE_MARK) is True


def _strip_value(value: Any) -> tuple[Any, bool]:
    if isinstance(value, BaseModel):
        stripped = strip_sensitive(value)
        return stripped, stripped is not value
    if isinstance(value, list | tuple):
        items = [_strip_value(v) for v in value]
        if any(changed for _, changed in items):
            return type(value)(v for v, _ in items), True
    return value, False


def strip_sensitive(model: M) -> M:
    """A copy with every sensitive field set to None (recursively); the input is unchanged.

    Returns the same object when there was nothing to strip, so callers can check
    ``strip_sensitive(x) is x`` cheaply.
    """
    update: dict[str, Any] = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if is_sensitive_field(field):
            if value is not None:
                update[name] = None
            continue
        stripped, changed = _strip_value(value)
        if changed:
            update[name] = stripped
    return model.model_copy(update=update) if update else model


def redact_for(model: M, *, audience_force: str | None, owning_force: str | None) -> M:
    """The model as ``audience_force`` may see it: whole for the owning force, else stripped.

    ``audience_force=None`` means "not a force" (matching, notify, a retailer, a log).
    """
    if audience_force is not None and audience_force == owning_force:
        return model
    return strip_sensitive(model)


def sensitive_paths(model_cls: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of sensitive fields (``report.offenders[].ic_code``), for docs and tests."""
    paths: list[str] = []
    for name, field in model_cls.model_fields.items():
        path = f"{prefix}{name}"
        if is_sensitive_field(field):
            paths.append(path)
            continue
        for inner, suffix in _model_types(field.annotation):
            paths.extend(sensitive_paths(inner, f"{path}{suffix}."))
    return paths


def _model_types(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    found: list[tuple[type[BaseModel], str]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, "")]
    origin = getattr(annotation, "__origin__", None)
    for arg in getattr(annotation, "__args__", ()):
        suffix = "[]" if origin in (list, tuple) else ""
        found.extend((m, suffix + s) for m, s in _model_types(arg))
    return found


def contains_sensitive(model: BaseModel) -> bool:
    """True when any sensitive field of the model (at any depth) has a value."""
    return strip_sensitive(model) is not model
