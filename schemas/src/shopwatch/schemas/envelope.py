"""The envelope that wraps every event on every topic.

`event_id` is the deduplication key: consumers record it with a unique index so an
event delivered twice (at-least-once) has its effect once.

``Envelope[ReportSubmitted]`` validates the payload as that model and refuses an
``event_type`` or ``schema_version`` that does not belong to it. To decode a message
whose type is not known in advance, use ``shopwatch.schemas.registry.parse_event``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shopwatch.schemas.primitives import utc_now

PayloadT = TypeVar("PayloadT", bound=BaseModel)

PRODUCER_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"

__all__ = ["PRODUCER_PATTERN", "Envelope", "PayloadT", "utc_now"]


class Envelope(BaseModel, Generic[PayloadT]):
    """One event: metadata plus a typed payload.

    Use it as ``Envelope[ReportSubmitted]`` so the payload is validated as that model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str = Field(min_length=1, max_length=80)
    schema_version: int = Field(ge=1, le=99)
    occurred_at: AwareDatetime = Field(default_factory=utc_now)
    producer: str = Field(pattern=PRODUCER_PATTERN)
    correlation_id: str = Field(min_length=1, max_length=64)
    payload: PayloadT

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        # Aware datetimes from any zone are accepted, but stored and sent as UTC so
        # ordering and comparisons across services never depend on a local zone.
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _payload_matches_type(self) -> Envelope[Any]:
        # A payload model names its own type and version (events.Event); the envelope
        # must agree, or a consumer would dispatch the message to the wrong handler.
        expected_type = getattr(type(self.payload), "EVENT_TYPE", None)
        expected_version = getattr(type(self.payload), "SCHEMA_VERSION", None)
        if isinstance(expected_type, str) and self.event_type != expected_type:
            raise ValueError(
                f"event_type {self.event_type!r} does not match the payload model "
                f"{type(self.payload).__name__} (event_type {expected_type!r})"
            )
        if isinstance(expected_version, int) and self.schema_version != expected_version:
            raise ValueError(
                f"schema_version {self.schema_version} does not match the payload model "
                f"{type(self.payload).__name__} (schema_version {expected_version})"
            )
        return self
