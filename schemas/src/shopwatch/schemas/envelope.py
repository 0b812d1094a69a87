"""The envelope that wraps every event on every topic.

`event_id` is the deduplication key: consumers record it with a unique index so an
event delivered twice (at-least-once) has its effect once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

PayloadT = TypeVar("PayloadT", bound=BaseModel)

PRODUCER_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"


def utc_now() -> datetime:
    return datetime.now(UTC)


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
