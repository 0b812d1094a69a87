"""Contract events from evidence documents; odd probe values cost a field, not the event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shopwatch.evidence.events import media_facts, rejected_event, stored_event
from shopwatch.schemas.enums import DerivativeKind, EvidenceRejectionReason, MediaKind

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def doc(**extra: Any) -> dict[str, Any]:
    return {
        "_id": "ev_1",
        "report_id": "rep_1",
        "retailer_id": "ret_1",
        "exhibit_ref": "AM/1",
        "file_name": "Caméra 1.mp4",
        "declared_media_type": "video/mp4",
        "declared_sha256": "a" * 64,
        "size": 1234,
        **extra,
    }


def test_stored_event_carries_hash_facts_and_derivatives() -> None:
    event = stored_event(
        doc(
            sha256="b" * 64,
            media_type="video/x-matroska",
            media={
                "container": "matroska",
                "video_codec": "mpeg4",
                "width": 320,
                "height": 240,
                "duration_s": 2.0,
                "fps": 25.0,
                "is_image": False,
            },
            derivatives=[
                {
                    "derivative_id": "drv_1",
                    "kind": "PREVIEW",
                    "file_name": "AM_1-PREVIEW-1.mp4",
                    "media_type": "video/mp4",
                    "size": 10,
                    "sha256": "c" * 64,
                    "at_seconds": None,
                },
                {
                    "derivative_id": "drv_2",
                    "kind": "THUMBS",
                    "file_name": "AM_1-THUMBS-1.jpg",
                    "media_type": "image/jpeg",
                    "size": 5,
                    "sha256": "d" * 64,
                },
            ],
        ),
        NOW,
    )
    assert event.sha256 == "b" * 64 and event.size_bytes == 1234
    assert event.media is not None and event.media.kind is MediaKind.VIDEO
    assert [d.kind for d in event.derivatives] == [
        DerivativeKind.PREVIEW,
        DerivativeKind.THUMBNAIL_STRIP,
    ]
    assert event.as_ref().exhibit_ref == "AM/1"


def test_out_of_range_probe_values_are_dropped() -> None:
    facts = media_facts(
        {
            "container": "weird\x00box",
            "width": 99_999,
            "height": 0,
            "duration_s": float("nan"),
            "fps": 0.0,
            "video_codec": "h264",
            "is_image": True,
        }
    )
    assert facts is not None
    assert facts.kind is MediaKind.IMAGE
    assert (facts.width, facts.height, facts.duration_seconds, facts.frame_rate) == (
        None,
        None,
        None,
        None,
    )
    assert facts.container == "weirdbox"
    assert media_facts(None) is None and media_facts({}) is None


def test_rejected_event() -> None:
    event = rejected_event(
        doc(),
        reason=EvidenceRejectionReason.HASH_MISMATCH,
        detail="the hashes differ",
        computed_sha256="e" * 64,
        detected_media_type="video/mp4",
        size=1234,
        rejected_at=NOW,
    )
    assert event.reason is EvidenceRejectionReason.HASH_MISMATCH
    assert (event.declared_sha256, event.computed_sha256) == ("a" * 64, "e" * 64)
    blank = rejected_event(
        doc(),
        reason=EvidenceRejectionReason.OTHER,
        detail="  ",
        computed_sha256=None,
        detected_media_type=None,
        size=None,
        rejected_at=NOW,
    )
    assert blank.detail == "other"
