"""Contract events built from evidence documents. Pure.

Probe results come from FFmpeg reading untrusted files, so every number is checked
against the contract's bounds here and dropped (``None``) when out of range: a strange
value must cost a field, never the event (an event that fails validation would leave
the item stuck in verification).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shopwatch.evidence.naming import Derivative
from shopwatch.schemas.enums import DerivativeKind, EvidenceRejectionReason, MediaKind
from shopwatch.schemas.events import DerivativeRef, EvidenceRejected, EvidenceStored, MediaFacts

DERIVATIVE_KINDS = {
    Derivative.PREVIEW.value: DerivativeKind.PREVIEW,
    Derivative.STILL.value: DerivativeKind.STILL,
    Derivative.THUMBS.value: DerivativeKind.THUMBNAIL_STRIP,
    Derivative.REDACTED.value: DerivativeKind.REDACTED,
}


def _int_in(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def _float_in(value: Any, low: float, high: float, *, open_low: bool = False) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    number = float(value)
    if number > high or number < low or (open_low and number == low):
        return None
    return number


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(c for c in value if c.isprintable()).strip()[:200]
    return cleaned or None


def media_facts(facts: Mapping[str, Any] | None) -> MediaFacts | None:
    if not facts:
        return None
    return MediaFacts(
        kind=MediaKind.IMAGE if facts.get("is_image") else MediaKind.VIDEO,
        container=_text(facts.get("container")),
        video_codec=_text(facts.get("video_codec")),
        audio_codec=_text(facts.get("audio_codec")),
        width=_int_in(facts.get("width"), 1, 16_384),
        height=_int_in(facts.get("height"), 1, 16_384),
        duration_seconds=_float_in(facts.get("duration_s"), 0, 604_800),
        frame_rate=_float_in(facts.get("fps"), 0, 1_000, open_low=True),
    )


def derivative_ref(d: Mapping[str, Any]) -> DerivativeRef:
    return DerivativeRef(
        derivative_id=d["derivative_id"],
        kind=DERIVATIVE_KINDS[d["kind"]],
        file_name=d["file_name"],
        media_type=d["media_type"],
        size_bytes=int(d["size"]),
        sha256=d["sha256"],
        at_seconds=_float_in(d.get("at_seconds"), 0, 1e9),
    )


def stored_event(doc: Mapping[str, Any], stored_at: datetime) -> EvidenceStored:
    return EvidenceStored(
        evidence_id=doc["_id"],
        report_id=doc["report_id"],
        retailer_id=doc["retailer_id"],
        exhibit_ref=doc["exhibit_ref"],
        file_name=doc["file_name"],
        media_type=doc["media_type"],
        size_bytes=int(doc["size"]),
        sha256=doc["sha256"],
        media=media_facts(doc.get("media")),
        derivatives=[derivative_ref(d) for d in doc.get("derivatives") or []][:50],
        stored_at=stored_at,
    )


def rejected_event(
    doc: Mapping[str, Any],
    *,
    reason: EvidenceRejectionReason,
    detail: str,
    computed_sha256: str | None,
    detected_media_type: str | None,
    size: int | None,
    rejected_at: datetime,
) -> EvidenceRejected:
    return EvidenceRejected(
        evidence_id=doc["_id"],
        report_id=doc["report_id"],
        retailer_id=doc["retailer_id"],
        file_name=doc["file_name"],
        reason=reason,
        detail=(detail.strip() or reason.value)[:2000],
        declared_media_type=doc.get("declared_media_type"),
        detected_media_type=_text(detected_media_type),
        declared_sha256=doc.get("declared_sha256"),
        computed_sha256=computed_sha256,
        size_bytes=size if size is not None and 0 <= size <= 1 << 50 else None,
        rejected_at=rejected_at,
    )
