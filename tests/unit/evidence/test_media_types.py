from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwatch.evidence.media_types import (
    SNIFF_BYTES,
    Category,
    Kind,
    RejectionCode,
    check_declared,
    normalise_media_type,
    sniff,
)


def head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


@pytest.mark.parametrize(
    ("name", "kind", "media_type"),
    [
        ("h264.mp4", Kind.MP4, "video/mp4"),
        ("h264_audio.mp4", Kind.MP4, "video/mp4"),
        ("h264.mov", Kind.QUICKTIME, "video/quicktime"),
        ("mjpeg.avi", Kind.AVI, "video/x-msvideo"),
        ("mpeg4.avi", Kind.AVI, "video/x-msvideo"),
        ("mpeg4.mkv", Kind.MATROSKA, "video/x-matroska"),
        ("raw.264", Kind.H264, "video/h264"),
        ("raw.265", Kind.H265, "video/h265"),
        ("h264.ts", Kind.MPEG_TS, "video/mp2t"),
        ("mpeg2.mpg", Kind.MPEG_PS, "video/mpeg"),
        ("still.jpg", Kind.JPEG, "image/jpeg"),
        ("still.png", Kind.PNG, "image/png"),
        ("evil_elf.mp4", Kind.ELF, "application/x-elf"),
        ("evil_pe.mp4", Kind.PE, "application/vnd.microsoft.portable-executable"),
    ],
)
def test_generated_fixtures_are_identified_by_content(
    media: dict[str, Path], name: str, kind: Kind, media_type: str
) -> None:
    found = sniff(head(media[name]))
    assert found.kind is kind
    assert found.media_type == media_type


def _ebml(doc_type: bytes) -> bytes:
    return (
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82" + bytes([0x80 | len(doc_type)]) + doc_type
    )


def _ts(packet: int, count: int, prefix: int = 0) -> bytes:
    return b"".join(
        b"\x00" * prefix + b"\x47" + b"\x1f\xff\x10" + b"\xff" * (packet - prefix - 4)
        for _ in range(count)
    )


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 40, Kind.MP4),
        (b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00isomiso2avc1mp41", Kind.MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", Kind.QUICKTIME),
        (b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x00isom3gp4", Kind.THREE_GP),
        (b"\x00\x00\x00\x14ftyp3g2a\x00\x00\x00\x00isom3g2a", Kind.THREE_GP),
        (b"\x00\x00\x6b\x9cmoov\x00\x00\x00\x6cmvhd" + b"\x00" * 40, Kind.QUICKTIME),
        (_ebml(b"matroska"), Kind.MATROSKA),
        (_ebml(b"webm"), Kind.WEBM),
        (b"RIFF\x00\x10\x00\x00AVI LIST", Kind.AVI),
        (_ts(188, 8), Kind.MPEG_TS),
        (_ts(192, 8, prefix=4), Kind.MPEG_TS),
        (b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01", Kind.MPEG_PS),
        (b"\x00\x00\x01\xb3\x14\x00\xf0\x13", Kind.MPEG_VIDEO),
        (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + b"\x00" * 16, Kind.ASF),
        (b"FLV\x01\x05\x00\x00\x00\x09", Kind.FLV),
        (b"DHAV\xfd\x00\x00\x00" + b"\x00" * 32, Kind.DAHUA_DAV),
        (b"\x00" * 1024 + b"DHAV\xfc\x00" + b"\x00" * 32, Kind.DAHUA_DAV),
        (b"IMKH\x01\x01\x00\x00" + b"\x00" * 32 + b"\x00\x00\x01\xba", Kind.HIKVISION),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", Kind.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", Kind.PNG),
        # raw Annex B: AUD, SPS, PPS (H.264) and VPS, SPS, PPS (H.265)
        (
            b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67\x64\x00\x1f\x00\x00\x00\x01\x68\xeb",
            Kind.H264,
        ),
        (
            b"\x00\x00\x00\x01\x40\x01\x0c\x01\x00\x00\x00\x01\x42\x01\x01\x00\x00\x01\x44\x01\xc1",
            Kind.H265,
        ),
    ],
)
def test_container_signatures(data: bytes, kind: Kind) -> None:
    assert sniff(data).kind is kind


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"MZ\x90\x00" + b"\x00" * 60, Kind.PE),
        (b"\x7fELF\x02\x01\x01\x00", Kind.ELF),
        (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", Kind.MACHO),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x02", Kind.MACHO),
        (b"#!/bin/sh\nrm -rf /\n", Kind.SCRIPT),
        (b"#!/usr/bin/env python3\n", Kind.SCRIPT),
        (b"PK\x03\x04\x14\x00\x08\x00", Kind.ZIP),
        (b"PK\x05\x06" + b"\x00" * 18, Kind.ZIP),
        (b"Rar!\x1a\x07\x01\x00", Kind.ARCHIVE),
        (b"\x1f\x8b\x08\x00", Kind.ARCHIVE),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", Kind.OLE),
        (b"%PDF-1.7\n%\xe2\xe3", Kind.PDF),
        (b"<!DOCTYPE html><html>", Kind.HTML),
        (b"\xef\xbb\xbf  \n<HTML><script>alert(1)</script>", Kind.HTML),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='x()'/>", Kind.HTML),
    ],
)
def test_forbidden_content_is_named(data: bytes, kind: Kind) -> None:
    found = sniff(data)
    assert found.kind is kind
    assert found.category is Category.FORBIDDEN
    assert not found.acceptable


def test_an_executable_wins_even_if_it_carries_video_signatures() -> None:
    # A PE whose body contains start codes and a DHAV marker is still a PE.
    payload = b"MZ" + b"\x00" * 62 + b"DHAV\xfd" + b"\x00\x00\x00\x01\x67\x64\x00\x00\x00\x01\x68"
    assert sniff(payload).kind is Kind.PE


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is plain text\n",
        b"G" + b"a" * 100,  # one "sync byte" is not a transport stream
        b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A isom",  # audio only
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",  # HEIF still
        b"RIFF\x24\x00\x00\x00WAVEfmt ",  # audio
        b"\x00\x00\x00\x01\x00\x00",  # start code then nothing plausible
        bytes(64),
    ],
)
def test_unrecognised_content(data: bytes) -> None:
    assert sniff(data).kind is Kind.UNKNOWN


def test_empty() -> None:
    assert sniff(b"").kind is Kind.EMPTY


def test_random_blobs_are_not_taken_for_media() -> None:
    rng = random.Random(1234)
    kinds = {sniff(rng.randbytes(SNIFF_BYTES)).kind for _ in range(500)}
    assert kinds <= {Kind.UNKNOWN}


@settings(max_examples=300)
@given(st.binary(max_size=4096))
def test_sniff_never_fails(data: bytes) -> None:
    found = sniff(data)
    assert found.media_type
    assert found.description


def test_sniff_looks_only_at_the_head() -> None:
    data = (b"\xff\xd8\xff\xe0" + bytes(SNIFF_BYTES * 2)) + b"MZ"
    assert sniff(data).kind is Kind.JPEG


# ---------------------------------------------------------------------------
# declared versus detected


def test_matching_declarations_pass(media: dict[str, Path]) -> None:
    assert check_declared("video/mp4", sniff(head(media["h264.mp4"]))).ok
    assert check_declared("Video/MP4; codecs=avc1", sniff(head(media["h264.mp4"]))).ok
    assert check_declared("image/jpeg", sniff(head(media["still.jpg"]))).ok
    assert check_declared("image/png", sniff(head(media["still.png"]))).ok
    assert check_declared("video/x-matroska", sniff(head(media["mpeg4.mkv"])), strict=True).ok


def test_generic_declarations_accept_any_media(media: dict[str, Path]) -> None:
    for name in ("raw.264", "mjpeg.avi", "still.png"):
        assert check_declared("application/octet-stream", sniff(head(media[name]))).ok


def test_mislabelled_container_is_accepted_unless_strict(media: dict[str, Path]) -> None:
    # CCTV software often calls everything video/mp4; we record the real type.
    found = sniff(head(media["mjpeg.avi"]))
    assert check_declared("video/mp4", found).ok
    strict = check_declared("video/mp4", found, strict=True)
    assert not strict.ok
    assert strict.code is RejectionCode.MEDIA_TYPE_MISMATCH
    assert "AVI" in (strict.reason or "")


@pytest.mark.parametrize("declared", ["video/mp4", "application/octet-stream", "image/jpeg"])
def test_disguised_executable_is_rejected_with_a_clear_reason(
    media: dict[str, Path], declared: str
) -> None:
    for name in ("evil_elf.mp4", "evil_pe.mp4"):
        result = check_declared(declared, sniff(head(media[name])))
        assert not result.ok
        assert result.code is RejectionCode.EXECUTABLE_CONTENT
        assert "executable" in (result.reason or "")


def test_empty_and_unknown_are_rejected() -> None:
    empty = check_declared("video/mp4", sniff(b""))
    assert (empty.ok, empty.code) == (False, RejectionCode.EMPTY_FILE)
    blob = check_declared("video/mp4", sniff(os.urandom(1024)))
    assert (blob.ok, blob.code) == (False, RejectionCode.UNRECOGNISED_CONTENT)


def test_category_mismatch_is_rejected(media: dict[str, Path]) -> None:
    result = check_declared("video/mp4", sniff(head(media["still.png"])))
    assert not result.ok
    assert result.code is RejectionCode.MEDIA_TYPE_MISMATCH
    assert "PNG" in (result.reason or "")
    assert not check_declared("image/jpeg", sniff(head(media["h264.mp4"]))).ok


@pytest.mark.parametrize("declared", ["text/html", "application/x-msdownload", "nonsense", ""])
def test_non_media_declarations_are_rejected(media: dict[str, Path], declared: str) -> None:
    result = check_declared(declared, sniff(head(media["h264.mp4"])))
    assert not result.ok
    assert result.code is RejectionCode.MEDIA_TYPE_MISMATCH


def test_normalise_media_type() -> None:
    assert normalise_media_type(' Video/MP4 ; codecs="avc1"') == "video/mp4"
    with pytest.raises(ValueError, match="type/subtype"):
        normalise_media_type("video")
