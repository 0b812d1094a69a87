from __future__ import annotations

import functools
import io
import secrets
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shopwatch.evidence.media import (
    MediaError,
    make_preview,
    make_still,
    make_thumbnail_strip,
    needs_preview,
    probe,
)
from shopwatch.evidence.media_types import Kind, sniff
from tests import media_fixtures as mf

VIDEOS = ["h264.mp4", "h264_audio.mp4", "h264.mov", "mjpeg.avi", "mpeg4.avi", "mpeg4.mkv",
          "mpeg4_audio.mkv", "raw.264", "raw.265", "h264.ts", "mpeg2.mpg"]  # fmt: skip


def demuxer(path: Path) -> str | None:
    return sniff(path.read_bytes()[:8192]).demuxer


# ---------------------------------------------------------------------------
# probe


@pytest.mark.parametrize(
    ("name", "container", "codec", "duration", "audio"),
    [
        ("h264.mp4", "mp4", "h264", 2.0, False),
        ("h264_audio.mp4", "mp4", "h264", 2.0, True),
        ("h264.mov", "mov", "h264", 1.0, False),
        ("mjpeg.avi", "avi", "mjpeg", 2.0, False),
        ("mpeg4.avi", "avi", "mpeg4", 2.0, False),
        ("mpeg4.mkv", "matroska", "mpeg4", 2.0, False),
        ("mpeg4_audio.mkv", "matroska", "mpeg4", 2.0, True),
        ("raw.264", "h264", "h264", None, False),
        ("raw.265", "hevc", "hevc", None, False),
        ("h264.ts", "mpegts", "h264", 2.0, False),
        ("mpeg2.mpg", "mpeg-ps", "mpeg2video", 2.0, False),
    ],
)
def test_probe_videos(
    media: dict[str, Path],
    name: str,
    container: str,
    codec: str,
    duration: float | None,
    audio: bool,
) -> None:
    facts = probe(media[name], demuxer=demuxer(media[name]))
    assert facts.container == container
    assert facts.video_codec == codec
    assert (facts.width, facts.height) == (320, 240)
    assert facts.fps == pytest.approx(25.0)
    assert facts.has_audio is audio
    if duration is None:
        assert facts.duration_s is None
    else:
        assert facts.duration_s == pytest.approx(duration, abs=0.1)
    assert not facts.is_image


@pytest.mark.parametrize(
    ("name", "container", "codec"), [("still.jpg", "jpeg", "mjpeg"), ("still.png", "png", "png")]
)
def test_probe_stills(media: dict[str, Path], name: str, container: str, codec: str) -> None:
    facts = probe(media[name])
    assert (facts.container, facts.video_codec) == (container, codec)
    assert (facts.width, facts.height, facts.duration_s, facts.fps) == (320, 240, None, None)
    assert facts.is_image
    assert not needs_preview(facts)


def test_probe_reads_file_objects(media: dict[str, Path]) -> None:
    facts = probe(io.BytesIO(media["mpeg4.mkv"].read_bytes()))
    assert (facts.container, facts.video_codec) == ("matroska", "mpeg4")


@pytest.mark.parametrize("name", ["evil_elf.mp4", "evil_pe.mp4"])
def test_probe_refuses_executables(media: dict[str, Path], name: str) -> None:
    with pytest.raises(MediaError, match=f"cannot read {name} as media"):
        probe(media[name])


def test_probe_refuses_empty_random_truncated_and_missing(
    tmp_path: Path, media: dict[str, Path]
) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    blob = tmp_path / "blob.mp4"
    blob.write_bytes(bytes(range(256)) * 64)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(media["h264.mp4"].read_bytes()[:300])
    for path in (empty, blob, truncated, tmp_path / "missing.mp4"):
        with pytest.raises(MediaError, match=path.name):
            probe(path)


def test_needs_preview(media: dict[str, Path]) -> None:
    assert not needs_preview(probe(media["h264.mp4"]))
    assert not needs_preview(probe(media["h264_audio.mp4"]))
    for name in ("h264.mov", "mjpeg.avi", "mpeg4.mkv", "raw.264", "h264.ts"):
        assert needs_preview(probe(media[name], demuxer=demuxer(media[name]))), name


# ---------------------------------------------------------------------------
# preview


def _moov_before_mdat(path: Path) -> bool:
    data = path.read_bytes()
    return 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize("name", [v for v in VIDEOS if v != "h264.mp4"])
def test_preview_is_browser_playable_h264_mp4(
    media: dict[str, Path], tmp_path: Path, name: str
) -> None:
    source = media[name]
    dst = tmp_path / "JS_1-PREVIEW-1.mp4"
    facts = make_preview(source, dst, demuxer=demuxer(source))
    assert facts == probe(dst)
    assert (facts.container, facts.video_codec, facts.pix_fmt) == ("mp4", "h264", "yuv420p")
    assert not needs_preview(facts)
    expected = 1.0 if name in ("h264.mov", "raw.265") else 2.0
    assert facts.duration_s == pytest.approx(expected, abs=0.15)
    assert (facts.width, facts.height) == (320, 240)
    assert facts.fps == pytest.approx(25.0, abs=0.5)
    assert facts.has_audio == probe(source, demuxer=demuxer(source)).has_audio
    assert _moov_before_mdat(dst), "faststart: the index must come first"
    assert sniff(dst.read_bytes()[:8192]).kind is Kind.MP4


def test_preview_caps_resolution_and_keeps_shape(tmp_path: Path) -> None:
    big = mf.mpeg4_mkv(tmp_path / "big.mkv", seconds=0.4, size=(1280, 960))
    facts = make_preview(big, tmp_path / "p.mp4", max_height=720)
    assert (facts.width, facts.height) == (960, 720)


def test_preview_reports_progress(media: dict[str, Path], tmp_path: Path) -> None:
    seen: list[float] = []
    make_preview(media["mjpeg.avi"], tmp_path / "p.mp4", on_progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(1.96, abs=0.05)


def test_preview_to_a_file_object(media: dict[str, Path]) -> None:
    out = io.BytesIO()
    make_preview(media["mpeg4.mkv"], out)
    facts = probe(io.BytesIO(out.getvalue()))
    assert (facts.container, facts.video_codec) == ("mp4", "h264")


def test_preview_of_non_media_is_a_media_error(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaError):
        make_preview(media["evil_elf.mp4"], tmp_path / "p.mp4")


# ---------------------------------------------------------------------------
# stills and strips


@pytest.mark.parametrize("name", VIDEOS)
def test_still_at_a_time(media: dict[str, Path], tmp_path: Path, name: str) -> None:
    source = media[name]
    dst = tmp_path / "JS_1-STILL-1.jpg"
    info = make_still(source, 0.5, dst, demuxer=demuxer(source))
    assert info.at_seconds == pytest.approx(0.5, abs=0.05)
    assert (info.width, info.height) == (320, 240)
    assert sniff(dst.read_bytes()).kind is Kind.JPEG
    facts = probe(dst)
    assert (facts.container, facts.width, facts.height) == ("jpeg", 320, 240)


def test_stills_at_different_times_differ(media: dict[str, Path], tmp_path: Path) -> None:
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    make_still(media["h264.mp4"], 0.2, a)
    make_still(media["h264.mp4"], 1.6, b)
    assert a.read_bytes() != b.read_bytes()


def test_still_past_the_end_is_the_last_frame(media: dict[str, Path], tmp_path: Path) -> None:
    info = make_still(media["mpeg4.mkv"], 99.0, tmp_path / "s.jpg")
    assert info.at_seconds == pytest.approx(1.96, abs=0.05)


def test_still_can_be_scaled_down(media: dict[str, Path], tmp_path: Path) -> None:
    info = make_still(media["h264.mp4"], 1.0, tmp_path / "s.jpg", max_width=160)
    assert (info.width, info.height) == (160, 120)


def test_still_rejects_bad_times(media: dict[str, Path], tmp_path: Path) -> None:
    for at in (-1.0, float("nan"), float("inf")):
        with pytest.raises(MediaError, match="still time"):
            make_still(media["h264.mp4"], at, tmp_path / "s.jpg")


@pytest.mark.parametrize("name", ["h264.mp4", "mjpeg.avi", "raw.264", "mpeg2.mpg"])
def test_thumbnail_strip(media: dict[str, Path], tmp_path: Path, name: str) -> None:
    source = media[name]
    dst = tmp_path / "JS_1-THUMBS-1.jpg"
    info = make_thumbnail_strip(source, dst, count=6, thumb_height=120, demuxer=demuxer(source))
    assert len(info.times) == 6
    assert info.times == tuple(sorted(info.times))
    assert info.times[0] < 0.5 and info.times[-1] > 1.5
    assert (info.width, info.height) == (6 * 160 + 5 * 4, 120)
    facts = probe(dst)
    assert (facts.container, facts.width, facts.height) == ("jpeg", info.width, 120)


def test_strip_of_a_still_image(media: dict[str, Path], tmp_path: Path) -> None:
    info = make_thumbnail_strip(media["still.png"], tmp_path / "t.jpg", count=3)
    assert len(info.times) == 3


# ---------------------------------------------------------------------------
# the fixtures themselves


def test_fixtures_are_deterministic_and_fast(tmp_path: Path) -> None:
    for make in (mf.h264_mp4, mf.mjpeg_avi, mf.mpeg4_mkv, mf.jpeg_still, mf.png_still):
        started = time.perf_counter()
        first = make(tmp_path / f"1-{make.__name__}").read_bytes()
        assert time.perf_counter() - started < 2.0
        assert make(tmp_path / f"2-{make.__name__}").read_bytes() == first


@pytest.mark.parametrize("make", [mf.jpeg_still, mf.png_still])
def test_stills_with_trailing_bytes_probe_over_http(tmp_path: Path, make: Any) -> None:
    """The verifier reads the master over HTTP (a presigned URL). There FFmpeg's own
    format guess failed for about 1 JPEG in 20 with bytes after the end-of-image marker
    (cameras and phones write such trailers); the sniffed demuxer is forced instead."""
    picture = make(tmp_path / "still").read_bytes()
    for n in range(60):
        (tmp_path / f"copy-{n}").write_bytes(picture + secrets.token_bytes(16))
    handler = functools.partial(_QuietFiles, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        for n in range(60):
            copy = tmp_path / f"copy-{n}"
            facts = probe(f"http://127.0.0.1:{port}/copy-{n}", demuxer=demuxer(copy))
            assert facts.is_image and (facts.width, facts.height) == (320, 240), n
    finally:
        server.shutdown()
        server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
