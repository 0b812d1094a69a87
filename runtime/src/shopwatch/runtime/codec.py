"""How an Envelope becomes a Kafka record and back: JSON value, a few headers.

One encoding for every path (outbox relay, direct publish, tests) so a consumer never
has to guess. The headers duplicate a little of the envelope so tools (and the DLQ
triage) can see what a record is without parsing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.registry import encode_event, parse_event
from shopwatch.schemas.topics import topic as registered_topic

HEADER_CONTENT_TYPE = "content-type"
HEADER_EVENT_ID = "event-id"
HEADER_EVENT_TYPE = "event-type"
HEADER_SCHEMA_VERSION = "schema-version"
JSON_CONTENT_TYPE = "application/json"

PayloadT = TypeVar("PayloadT", bound=BaseModel)

EnvelopeParser = Callable[[bytes], Envelope[Any]]


def encode_envelope(envelope: Envelope[Any]) -> bytes:
    """The contract's encoding (compact UTF-8 JSON), the only one on the wire."""
    return encode_event(envelope)


def event_headers(envelope: Envelope[Any]) -> dict[str, str]:
    return {
        HEADER_CONTENT_TYPE: JSON_CONTENT_TYPE,
        HEADER_EVENT_ID: str(envelope.event_id),
        HEADER_EVENT_TYPE: envelope.event_type,
        HEADER_SCHEMA_VERSION: str(envelope.schema_version),
    }


def envelope_parser(payload_model: type[PayloadT]) -> Callable[[bytes], Envelope[PayloadT]]:
    """A parser for a topic that carries one event type: `Envelope[payload_model]`.

    Raises pydantic's ValidationError on anything else, which the consumer treats as a
    poison message.
    """
    model = Envelope[payload_model]  # type: ignore[valid-type]

    def parse(raw: bytes) -> Envelope[PayloadT]:
        return model.model_validate_json(raw)

    return parse


def topic_parser(name: str) -> EnvelopeParser:
    """A parser for a registered topic: any event the registry says it carries.

    `name` is the unprefixed registry name. Raises `EventDecodeError` (a poison message)
    for anything else, including an event type that belongs on another topic.
    """
    allowed = registered_topic(name).event_models
    if not allowed:
        raise ValueError(f"topic {name!r} carries no events (is it a DLQ?)")

    def parse(raw: bytes) -> Envelope[Any]:
        return parse_event(raw, allowed=allowed)

    return parse
