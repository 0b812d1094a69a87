"""What verification decides from the bytes (no S3, no database)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shopwatch.evidence.config import EvidenceSettings
from shopwatch.evidence.hashing import StreamDigest
from shopwatch.evidence.media_runner import MediaJobFailed, MediaJobTimeout
from shopwatch.evidence.media_types import sniff
from shopwatch.evidence.verification import StorageUnavailable, Verifier, content_verdict
from shopwatch.schemas.enums import EvidenceRejectionReason as R


def digest_of(data: bytes) -> StreamDigest:
    return StreamDigest(hashlib.sha256(data).hexdigest(), len(data), data[:8192])


def item(data: bytes, **changes: Any) -> dict[str, Any]:
    return {
        "size": len(data),
        "declared_sha256": hashlib.sha256(data).hexdigest(),
        "declared_media_type": "video/mp4",
        **changes,
    }


def test_a_good_video_passes(media: dict[str, Path]) -> None:
    data = media["h264.mp4"].read_bytes()
    found, rejection = content_verdict(item(data), digest_of(data))
    assert rejection is None and found.media_type == "video/mp4"


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        ("h264.mp4", {"declared_sha256": "0" * 64}, R.HASH_MISMATCH),
        ("h264.mp4", {"size": 1}, R.SIZE_MISMATCH),
        ("evil_elf.mp4", {}, R.EXECUTABLE_CONTENT),
        ("evil_pe.mp4", {}, R.EXECUTABLE_CONTENT),
        ("still.jpg", {"declared_media_type": "video/mp4"}, R.MEDIA_TYPE_MISMATCH),
    ],
)
def test_rejections(media: dict[str, Path], name: str, changes: dict[str, Any], reason: R) -> None:
    data = media[name].read_bytes()
    _, rejection = content_verdict(item(data, **changes), digest_of(data))
    assert rejection is not None and rejection.reason is reason
    assert rejection.detail


def test_unknown_blob_is_rejected() -> None:
    data = bytes(range(256)) * 64
    _, rejection = content_verdict(item(data), digest_of(data))
    assert rejection is not None and rejection.reason is R.UNRECOGNISED_CONTENT


def test_size_is_checked_before_the_hash() -> None:
    data = b"\x00" * 100
    _, rejection = content_verdict(item(data, size=99, declared_sha256="0" * 64), digest_of(data))
    assert rejection is not None and rejection.reason is R.SIZE_MISMATCH


def verifier(media_job: Any) -> Verifier:
    settings = EvidenceSettings(media_probe_timeout_s=1.0)
    service = SimpleNamespace(settings=settings, repo=None, store=None)
    return Verifier(service, media_job=media_job, owner="test")  # type: ignore[arg-type]


async def test_probe_time_limit_and_crash_are_unplayable(media: dict[str, Path]) -> None:
    found = sniff(media["h264.mp4"].read_bytes())

    async def slow(job: dict[str, Any], **_: Any) -> dict[str, Any]:
        raise MediaJobTimeout(1.0)

    async def crash(job: dict[str, Any], **_: Any) -> dict[str, Any]:
        raise MediaJobFailed("media worker exited with status -11")

    async def unreadable(job: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"ok": False, "error": "cannot decode"}

    async def audio_only(job: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"ok": True, "facts": {"video_codec": None, "audio_codec": "aac"}}

    for job, words in [
        (slow, "longer than"),
        (crash, "status -11"),
        (unreadable, "cannot decode"),
        (audio_only, "no video stream"),
    ]:
        facts, rejection = await verifier(job)._probe("http://s3/x?X-Amz-Signature=1", found)
        assert facts is None and rejection is not None
        assert rejection.reason is R.UNPLAYABLE_MEDIA and words in rejection.detail


async def test_a_still_that_does_not_read_as_one_is_a_mismatch(media: dict[str, Path]) -> None:
    found = sniff(media["still.jpg"].read_bytes())

    async def video(job: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"ok": True, "facts": {"video_codec": "mjpeg", "is_image": False}}

    _, rejection = await verifier(video)._probe("u", found)
    assert rejection is not None and rejection.reason is R.MEDIA_TYPE_MISMATCH


async def test_storage_away_while_probing_is_retried_not_a_rejection(
    media: dict[str, Path],
) -> None:
    # Found by tests/fault: S3 stopped between hashing and probing made a good still
    # "unplayable_media (Connection refused)", rejected for good.
    found = sniff(media["still.jpg"].read_bytes())

    async def storage_down(job: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"ok": False, "retry": True, "error": "cannot fetch x: Connection refused"}

    with pytest.raises(StorageUnavailable, match="Connection refused"):
        await verifier(storage_down)._probe("u", found)
