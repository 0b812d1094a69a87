"""The FFmpeg child process: its protocol, its limits, and what it never leaks."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopwatch.evidence import media_worker
from shopwatch.evidence.media_runner import MediaJobTimeout, run_media_job, scrub


def test_scrub_removes_the_presigned_url_and_its_signature() -> None:
    url = "http://127.0.0.1:9000/b/masters/r/e/cam.mp4?X-Amz-Credential=AK%2F1&X-Amz-Signature=abc"
    message = f"cannot read {url}: Invalid data; also cam.mp4?X-Amz-Signature=abc here"
    clean = scrub(message, url)
    assert "X-Amz" not in clean and "127.0.0.1" not in clean
    assert clean.startswith("cannot read cam.mp4: Invalid data")


def test_probe_in_process(media: dict[str, Path]) -> None:
    result = media_worker.run({"mode": "probe", "source": str(media["mpeg4.mkv"])})
    assert result["ok"] is True
    facts = result["facts"]
    assert (facts["container"], facts["video_codec"], facts["needs_preview"]) == (
        "matroska",
        "mpeg4",
        True,
    )
    playable = media_worker.run({"mode": "probe", "source": str(media["h264.mp4"])})
    assert playable["facts"]["needs_preview"] is False


def test_probe_of_garbage_is_a_clean_refusal(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\xff" * 5000)
    result = media_worker.run({"mode": "probe", "source": str(junk)})
    assert result["ok"] is False and result["error"]


def test_derive_makes_named_copies_and_reports_failures(
    media: dict[str, Path], tmp_path: Path
) -> None:
    result = media_worker.run(
        {
            "mode": "derive",
            "source": str(media["mpeg4.avi"]),
            "out_dir": str(tmp_path),
            "exhibit_ref": "JS/4",
            "thumbnails": 3,
            "preview": True,
            "stills": [0.5],
            "first_still": 2,
        }
    )
    names = [d["file"] for d in result["derivatives"]]
    assert names == ["JS_4-THUMBS-1.jpg", "JS_4-PREVIEW-1.mp4", "JS_4-STILL-2.jpg"]
    assert all((tmp_path / n).stat().st_size > 0 for n in names)
    assert result["errors"] == []
    broken = media_worker.run(
        {
            "mode": "derive",
            "source": str(tmp_path / "missing.mp4"),
            "out_dir": str(tmp_path),
            "exhibit_ref": "JS/4",
            "thumbnails": 2,
        }
    )
    assert broken["derivatives"] == [] and broken["errors"][0].startswith("THUMBS")


async def test_run_media_job_in_a_child_process(media: dict[str, Path]) -> None:
    result = await run_media_job(
        {"mode": "probe", "source": str(media["h264.ts"])}, timeout_s=60, memory_mb=2048
    )
    assert result["ok"] is True and result["facts"]["container"] == "mpegts"
    assert result["max_rss_kb"] > 0
    json.dumps(result)


async def test_a_child_over_its_time_limit_is_killed(
    media: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(MediaJobTimeout):
        await run_media_job(
            {
                "mode": "derive",
                "source": str(media["mpeg4.mkv"]),
                "out_dir": str(tmp_path),
                "exhibit_ref": "JS/1",
                "preview": True,
            },
            timeout_s=0.05,
        )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _answering(status: int) -> Iterator[str]:
    """An HTTP server on loopback that answers every GET with `status`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/b/cam.mp4?X-Amz-Signature=abc"
    finally:
        server.shutdown()
        server.server_close()


def test_probe_of_an_unreachable_source_asks_for_a_retry() -> None:
    # Storage down is not bad media (found by tests/fault with S3 stopped).
    url = f"http://127.0.0.1:{_closed_port()}/b/cam.mp4?X-Amz-Signature=abc"
    result = media_worker.run({"mode": "probe", "source": url})
    assert result["ok"] is False and result["retry"] is True
    assert "X-Amz" not in result["error"] and "127.0.0.1" not in result["error"]


@pytest.mark.parametrize(("status", "retry"), [(503, True), (404, False)])
def test_probe_retries_a_5xx_from_storage_but_not_a_missing_object(
    status: int, retry: bool
) -> None:
    with _answering(status) as url:
        result = media_worker.run({"mode": "probe", "source": url})
    assert result["ok"] is False
    assert bool(result.get("retry")) is retry
