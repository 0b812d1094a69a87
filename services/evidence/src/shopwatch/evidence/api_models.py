"""Request and response bodies of evidence's HTTP API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    detail: str
    field: str | None = None
    code: str | None = None


class InitiateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Loose types here on purpose: the evidence rules give clearer messages (naming the
    # field) than generic validation would for a bad name, size or hash.
    file_name: str = Field(max_length=4096, description="The file's own name, no path.")
    size: int = Field(description="Bytes in the file (at least 1).")
    media_type: str = Field(
        max_length=300, description="What the client believes it is, e.g. video/mp4."
    )
    sha256: str = Field(max_length=200, description="Hex SHA-256 of the whole file.")
    stills_at_seconds: list[float] = Field(
        default_factory=list,
        max_length=50,
        description="Times (seconds from the start) to take full-resolution stills at.",
    )


class ExhibitRefBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    exhibit_ref: str = Field(max_length=64, description="e.g. JS/2")


class StillsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_seconds: list[float] = Field(min_length=1, max_length=50)


class Derivative(BaseModel):
    derivative_id: str
    kind: str
    file_name: str
    media_type: str
    size_bytes: int
    sha256: str
    at_seconds: float | None = None


class Rejection(BaseModel):
    reason: str
    detail: str


class CustodyHead(BaseModel):
    seq: int
    entry_hash: str


class EvidenceView(BaseModel):
    evidence_id: str
    report_id: str
    exhibit_ref: str
    file_name: str
    status: str
    size_bytes: int
    declared_media_type: str
    declared_sha256: str
    media_type: str | None = None
    sha256: str | None = Field(default=None, description="Computed by the server.")
    part_size: int
    part_count: int
    created_at: datetime
    uploaded_at: datetime | None = None
    stored_at: datetime | None = None
    rejected_at: datetime | None = None
    deleted_at: datetime | None = None
    rejection: Rejection | None = None
    media: dict[str, Any] | None = None
    derivatives: list[Derivative] = Field(default_factory=list)
    shared_with: list[str] = Field(default_factory=list)
    custody_head: CustodyHead | None = None

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> EvidenceView:
        head = doc.get("custody_head") or {}
        return cls(
            evidence_id=doc["_id"],
            report_id=doc["report_id"],
            exhibit_ref=doc["exhibit_ref"],
            file_name=doc["file_name"],
            status=doc["status"],
            size_bytes=int(doc["size"]),
            declared_media_type=doc["declared_media_type"],
            declared_sha256=doc["declared_sha256"],
            media_type=doc.get("media_type"),
            sha256=doc.get("sha256"),
            part_size=int(doc["part_size"]),
            part_count=int(doc["part_count"]),
            created_at=doc["created_at"],
            uploaded_at=doc.get("uploaded_at"),
            stored_at=doc.get("stored_at"),
            rejected_at=doc.get("rejected_at"),
            deleted_at=doc.get("deleted_at"),
            rejection=Rejection(**doc["rejection"]) if doc.get("rejection") else None,
            media={k: v for k, v in (doc.get("media") or {}).items()} or None,
            derivatives=[
                Derivative(
                    derivative_id=d["derivative_id"],
                    kind=d["kind"],
                    file_name=d["file_name"],
                    media_type=d["media_type"],
                    size_bytes=int(d["size"]),
                    sha256=d["sha256"],
                    at_seconds=d.get("at_seconds"),
                )
                for d in doc.get("derivatives") or []
            ],
            shared_with=list(doc.get("shared_with") or []),
            custody_head=CustodyHead(seq=int(head["seq"]), entry_hash=str(head["entry_hash"]))
            if int(head.get("seq", 0)) > 0
            else None,
        )


class UploadSession(EvidenceView):
    resumed: bool = Field(description="True when an open upload of the same file was found.")
    max_parts_per_request: int


class PartUrlView(BaseModel):
    number: int
    url: str
    offset: int
    length: int


class PartUrls(BaseModel):
    evidence_id: str
    expires_at: datetime
    parts: list[PartUrlView]


class UploadedPartView(BaseModel):
    number: int
    size: int
    etag: str


class UploadedParts(BaseModel):
    evidence_id: str
    status: str
    part_count: int
    part_size: int
    parts: list[UploadedPartView]
    missing: list[int] = Field(description="Planned parts not (or not fully) in storage.")


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime
    file_name: str
    sha256: str
    size_bytes: int
    media_type: str


class CustodyEntryView(BaseModel):
    seq: int
    at: str
    actor: dict[str, str]
    action: str
    reason: str | None
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str


class CustodyVerification(BaseModel):
    ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None


class CustodyLogView(BaseModel):
    evidence_id: str
    exhibit_ref: str
    head: CustodyHead | None
    verification: CustodyVerification
    entries: list[CustodyEntryView]


class EvidenceList(BaseModel):
    report_id: str
    evidence: list[EvidenceView]
