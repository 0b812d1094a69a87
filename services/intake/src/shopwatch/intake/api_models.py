"""The HTTP shapes of intake's API (requests and responses), apart from the contract's Report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shopwatch.intake.idempotency import MAX_KEY_LENGTH


class ReportAccepted(BaseModel):
    report_id: str
    reference: str = Field(description="Human reference, e.g. SW-20261129-000042.")
    status: str
    replayed: bool = Field(description="True when an Idempotency-Key replay answered.")


class BatchEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idempotency_key: str | None = Field(default=None, min_length=1, max_length=MAX_KEY_LENGTH)
    # Validated item by item by the service so one bad report does not sink the batch.
    report: dict[str, Any]


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BatchEntry] = Field(min_length=1, max_length=500)


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class BatchItemResult(BaseModel):
    index: int
    status: str = Field(description="accepted, duplicate, conflict or rejected")
    report_id: str | None = None
    reference: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class BatchResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItemResult]


class TimelineEntry(BaseModel):
    status: str
    at: datetime
    by: str | None = None
    detail: dict[str, Any] | None = None


class ReportView(BaseModel):
    report_id: str
    reference: str
    store_id: str
    status: str
    submitted_at: datetime
    report: dict[str, Any]
    store: dict[str, Any]
    timeline: list[TimelineEntry]


class ReportSummary(BaseModel):
    report_id: str
    reference: str
    store_id: str
    status: str
    submitted_at: datetime
    occurred_at: datetime
    offence_type: str


class ReportPage(BaseModel):
    reports: list[ReportSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class ErrorBody(BaseModel):
    detail: Any


class Identity(BaseModel):
    retailer_id: str
    key_id: str
