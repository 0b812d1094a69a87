"""Find the model of an event by (event_type, schema_version) and decode messages.

Consumers call ``parse_event(raw)`` on every record: it refuses anything that is not
a known event of a known version with an ``EventDecodeError`` whose message says what
was wrong and where (the field path for validation errors), which is what goes into
the dead-letter record. Producers call ``make_envelope(payload, producer=...)``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import ValidationError

from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import EVENT_MODELS, Event

E = TypeVar("E", bound=Event)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Larger records are refused before parsing (Kafka's own default limit is 1 MiB)."""

EVENT_REGISTRY: MappingProxyType[tuple[str, int], type[Event]] = MappingProxyType(
    {(m.EVENT_TYPE, m.SCHEMA_VERSION): m for m in EVENT_MODELS}
)


class EventDecodeError(ValueError):
    """A record that cannot become a valid event: a poison message for the DLQ."""


class UnknownEventTypeError(EventDecodeError):
    def __init__(self, event_type: object) -> None:
        self.event_type = event_type
        known = ", ".join(sorted({t for t, _ in EVENT_REGISTRY}))
        super().__init__(f"event_type: unknown event type {event_type!r} (known: {known})")


class UnsupportedSchemaVersionError(EventDecodeError):
    def __init__(self, event_type: str, schema_version: object) -> None:
        self.event_type = event_type
        self.schema_version = schema_version
        known = sorted(v for t, v in EVENT_REGISTRY if t == event_type)
        super().__init__(
            f"schema_version: {event_type!r} has no version {schema_version!r} "
            f"(this code knows version {', '.join(map(str, known))})"
        )


class UnexpectedEventTypeError(EventDecodeError):
    def __init__(self, event_type: str, allowed: Iterable[type[Event]]) -> None:
        self.event_type = event_type
        names = ", ".join(sorted(m.EVENT_TYPE for m in allowed))
        super().__init__(f"event_type: {event_type!r} is not expected here (expected {names})")


class InvalidEventError(EventDecodeError):
    """The envelope or payload failed validation; ``errors`` has one line per problem."""

    def __init__(self, event_type: str | None, error: ValidationError) -> None:
        self.event_type = event_type
        self.errors = format_validation_errors(error)
        what = f"invalid {event_type!r} event" if event_type else "invalid event"
        super().__init__(f"{what}: " + "; ".join(self.errors))


def format_validation_errors(error: ValidationError) -> list[str]:
    """``['payload.report.items.0.quantity: Input should be greater than or equal to 1']``."""
    lines = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(message)"
        lines.append(f"{path}: {item['msg']}")
    return lines


def event_model(event_type: str, schema_version: int) -> type[Event]:
    """The payload model for this type and version, or an ``EventDecodeError``."""
    model = EVENT_REGISTRY.get((event_type, schema_version))
    if model is None:
        if not any(t == event_type for t, _ in EVENT_REGISTRY):
            raise UnknownEventTypeError(event_type)
        raise UnsupportedSchemaVersionError(event_type, schema_version)
    return model


@cache
def envelope_model(model: type[E]) -> type[Envelope[E]]:
    """``Envelope[model]``, built once per model."""
    return Envelope[model]  # type: ignore[valid-type]


def parse_event(
    raw: bytes | bytearray | str | Mapping[str, Any],
    *,
    allowed: Iterable[type[Event]] | None = None,
) -> Envelope[Any]:
    """Decode one message into ``Envelope[<its model>]``.

    Raises an ``EventDecodeError`` (never anything else) for: bytes that are not
    UTF-8 JSON, a JSON value that is not an object, an unknown ``event_type``, an
    unknown ``schema_version``, a type not in ``allowed`` (the models a topic carries),
    or any validation error in the envelope or the payload (with field paths).
    """
    data = _load(raw)
    event_type = data.get("event_type")
    schema_version = data.get("schema_version")
    if not isinstance(event_type, str):
        raise EventDecodeError("event_type: missing or not a string")
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise EventDecodeError("schema_version: missing or not an integer")
    model = event_model(event_type, schema_version)
    if allowed is not None:
        allowed = tuple(allowed)
        if model not in allowed:
            raise UnexpectedEventTypeError(event_type, allowed)
    try:
        return envelope_model(model).model_validate(data)
    except ValidationError as error:
        raise InvalidEventError(event_type, error) from error


def _load(raw: bytes | bytearray | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise EventDecodeError(f"message is {len(raw)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        # Decode explicitly: json.loads would guess UTF-16/32 from a byte-order mark.
        text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as error:
        raise EventDecodeError(f"message is not UTF-8: {error}") from error
    except json.JSONDecodeError as error:
        raise EventDecodeError(f"message is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise EventDecodeError(f"message is JSON {type(data).__name__}, not an object")
    return data


def make_envelope(
    payload: E,
    *,
    producer: str,
    correlation_id: str | None = None,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
) -> Envelope[E]:
    """Wrap a payload, taking type, version and (by default) correlation from it.

    The correlation id defaults to the payload's key (report id or case id), which is
    the id that ties one report's flow together across services.
    """
    fields: dict[str, Any] = {
        "event_type": payload.EVENT_TYPE,
        "schema_version": payload.SCHEMA_VERSION,
        "producer": producer,
        "correlation_id": correlation_id or payload.key(),
        "payload": payload,
    }
    if event_id is not None:
        fields["event_id"] = event_id
    if occurred_at is not None:
        fields["occurred_at"] = occurred_at
    return envelope_model(type(payload)).model_validate(fields)


def encode_event(envelope: Envelope[Any]) -> bytes:
    """The bytes to put on Kafka (compact JSON, UTF-8)."""
    return envelope.model_dump_json().encode()
