"""`shopwatch upload` against an in-memory evidence service and S3 (httpx.MockTransport)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from shopwatch.cli import upload as upload_module
from shopwatch.cli.app import app
from shopwatch.cli.upload import (
    TokenBucket,
    Uploader,
    UploadError,
    error_line,
    format_ranges,
    guess_media_type,
    parse_rate,
)

PART = 1000


class FakeEvidence:
    """The evidence API and S3 in one: sessions, part URLs, PUTs, completion, status."""

    def __init__(self, *, verdict: str = "stored", part_size: int = PART) -> None:
        self.part_size = part_size
        self.verdict = verdict
        self.sessions: dict[str, dict[str, Any]] = {}
        self.parts: dict[int, bytes] = {}
        self.puts: list[int] = []
        self.fail_puts: dict[int, int] = {}  # part -> how many times to answer 500
        self.drop_puts: set[int] = set()  # parts whose PUT "succeeds" but is lost
        self.completed = 0
        self.polls = 0

    def session(self, evidence_id: str) -> dict[str, Any]:
        s = self.sessions[evidence_id]
        return {
            "evidence_id": evidence_id,
            "exhibit_ref": "AM/1",
            "status": s["status"],
            "size_bytes": s["size"],
            "part_size": self.part_size,
            "part_count": s["count"],
            "resumed": s.get("resumed", False),
            "max_parts_per_request": 2,
            "sha256": s.get("sha256"),
            "rejection": s.get("rejection"),
            "derivatives": [],
        }

    def api(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.headers.get("Authorization") != "Bearer sw_key":
            return httpx.Response(401, json={"detail": "missing, invalid or revoked API key"})
        if request.method == "POST" and path.endswith("/evidence"):
            body = json.loads(request.content)
            for evidence_id, s in self.sessions.items():
                if s["sha"] == body["sha256"]:
                    s["resumed"] = True
                    return httpx.Response(200, json=self.session(evidence_id))
            if body["size"] == 0:
                return httpx.Response(
                    400, json={"detail": "the file is empty (0 bytes)", "field": "size"}
                )
            count = max(1, -(-body["size"] // self.part_size))
            self.sessions["ev_1"] = {
                "sha": body["sha256"],
                "size": body["size"],
                "count": count,
                "status": "initiated",
            }
            return httpx.Response(201, json=self.session("ev_1"))
        evidence_id = path.split("/")[3]
        s = self.sessions[evidence_id]
        if path.endswith("/uploaded"):
            held = sorted(self.parts)
            missing = [
                n
                for n in range(1, s["count"] + 1)
                if len(self.parts.get(n, b"")) != self._length(s, n)
            ]
            return httpx.Response(200, json={"parts": held, "missing": missing})
        if path.endswith("/parts"):
            numbers = _expand(request.url.params["numbers"])
            assert len(numbers) <= 2  # the client honours max_parts_per_request
            parts = [
                {
                    "number": n,
                    "url": f"http://s3/bucket/key?partNumber={n}",
                    "offset": (n - 1) * self.part_size,
                    "length": self._length(s, n),
                }
                for n in numbers
            ]
            return httpx.Response(200, json={"parts": parts})
        if path.endswith("/complete"):
            missing = [n for n in range(1, s["count"] + 1) if n not in self.parts]
            if missing:
                return httpx.Response(
                    409,
                    json={
                        "detail": f"missing parts {missing}",
                        "field": "parts",
                        "code": "incomplete_upload",
                    },
                )
            self.completed += 1
            s["status"] = "uploaded"
            return httpx.Response(202, json=self.session(evidence_id))
        # GET /v1/evidence/{id}: verification finishes on the second poll
        self.polls += 1
        if s["status"] == "uploaded" and self.polls >= 2:
            data = b"".join(self.parts[n] for n in sorted(self.parts))
            if self.verdict == "stored":
                s["status"], s["sha256"] = "stored", hashlib.sha256(data).hexdigest()
            else:
                s["status"] = "rejected"
                s["rejection"] = {"reason": "executable_content", "detail": "an ELF program"}
        return httpx.Response(200, json=self.session(evidence_id))

    def s3(self, request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["partNumber"])
        body = request.read()
        assert int(request.headers["Content-Length"]) == len(body)
        self.puts.append(number)
        if self.fail_puts.get(number):
            self.fail_puts[number] -= 1
            return httpx.Response(500)
        if number not in self.drop_puts:
            self.parts[number] = body
        else:
            self.drop_puts.discard(number)
        return httpx.Response(200, headers={"ETag": '"x"'})

    def _length(self, s: dict[str, Any], n: int) -> int:
        return min(self.part_size, int(s["size"]) - (n - 1) * self.part_size)


def _expand(text: str) -> list[int]:
    numbers: list[int] = []
    for token in text.split(","):
        first, _, last = token.partition("-")
        numbers.extend(range(int(first), int(last or first) + 1))
    return numbers


def make_uploader(fake: FakeEvidence, **options: Any) -> Uploader:
    client = httpx.Client(
        transport=httpx.MockTransport(fake.api),
        base_url="http://evidence",
        headers={"Authorization": "Bearer sw_key"},
    )
    parts = httpx.Client(transport=httpx.MockTransport(fake.s3))
    return Uploader(client, part_client=parts, sleep=lambda _: None, **options)


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "camera 1.mp4"
    path.write_bytes(os.urandom(4500))
    return path


def test_uploads_every_part_and_reports_the_servers_hash(video: Path) -> None:
    fake = FakeEvidence()
    result = make_uploader(fake, parallel=3).upload("rep_1", video)
    assert sorted(fake.puts) == [1, 2, 3, 4, 5]
    assert b"".join(fake.parts[n] for n in range(1, 6)) == video.read_bytes()
    assert (result.status, result.parts_sent, result.parts_already_uploaded) == ("stored", 5, 0)
    assert result.sha256 == hashlib.sha256(video.read_bytes()).hexdigest()


def test_a_rerun_sends_only_what_storage_lacks(video: Path) -> None:
    fake = FakeEvidence()
    data = video.read_bytes()
    fake.sessions["ev_1"] = {
        "sha": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "count": 5,
        "status": "initiated",
    }
    fake.parts = {1: data[:PART], 2: data[PART : 2 * PART], 4: b"short"}  # 4 was cut off
    result = make_uploader(fake).upload("rep_1", video)
    assert sorted(fake.puts) == [3, 4, 5]
    assert result.resumed and result.parts_already_uploaded == 2 and result.parts_sent == 3
    assert result.status == "stored"


def test_already_stored_sends_nothing(video: Path) -> None:
    fake = FakeEvidence()
    make_uploader(fake).upload("rep_1", video)
    fake.puts.clear()
    again = make_uploader(fake).upload("rep_1", video)
    assert fake.puts == [] and again.status == "stored" and again.parts_sent == 0


def test_failed_parts_are_retried_and_a_lost_part_is_resent_before_completing(
    video: Path,
) -> None:
    fake = FakeEvidence()
    fake.fail_puts = {2: 2}
    fake.drop_puts = {3}
    result = make_uploader(fake).upload("rep_1", video)
    assert fake.puts.count(2) == 3 and fake.puts.count(3) == 2
    assert result.status == "stored" and fake.completed == 1


def test_a_rejection_is_reported(video: Path) -> None:
    fake = FakeEvidence(verdict="rejected")
    result = make_uploader(fake).upload("rep_1", video)
    assert result.status == "rejected" and result.rejection is not None
    assert result.rejection["reason"] == "executable_content"


def test_refusals_become_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match=r"^size: the file is empty"):
        make_uploader(FakeEvidence()).upload("rep_1", empty)


def test_the_command_prints_json_and_fails_cleanly(
    video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEvidence()
    real_client = httpx.Client

    def fake_client(*args: Any, **kwargs: Any) -> httpx.Client:
        target = fake.api if "base_url" in kwargs else fake.s3
        kwargs["transport"] = httpx.MockTransport(target)
        return real_client(*args, **kwargs)

    monkeypatch.setattr(httpx, "Client", fake_client)
    monkeypatch.setattr(upload_module, "PART_ATTEMPTS", 1)
    runner = CliRunner()
    ok = runner.invoke(app, ["--json", "upload", "rep_1", str(video), "--api-key", "sw_key"])
    assert ok.exit_code == 0, ok.output
    document = json.loads(ok.stdout)
    assert document["files"][0]["status"] == "stored"
    refused = runner.invoke(app, ["upload", "rep_1", str(video), "--api-key", "sw_other"])
    assert refused.exit_code == 1
    assert "API key was refused" in refused.output
    no_key = runner.invoke(app, ["upload", "rep_1", str(video)], env={"SHOPWATCH_API_KEY": ""})
    assert no_key.exit_code == 2


def test_helpers() -> None:
    assert format_ranges([5, 1, 2, 3, 7, 8, 3]) == "1-3,5,7-8"
    assert format_ranges([4]) == "4" and format_ranges([]) == ""
    assert parse_rate("2M") == 2 * 1024**2 and parse_rate("500k") == 500 * 1024
    assert parse_rate("1.5MB/s") == 1.5 * 1024**2 and parse_rate("100") == 100
    for bad in ("fast", "0", "-1M"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    assert guess_media_type(Path("a.mp4")) == "video/mp4"
    assert guess_media_type(Path("a.dav")) == "application/octet-stream"
    assert guess_media_type(Path("a.JPG")) == "image/jpeg"
    validation = httpx.Response(
        422, json={"detail": [{"loc": ["body", "size"], "msg": "not an int"}]}
    )
    assert error_line(validation) == "size: not an int"
    assert error_line(httpx.Response(502, text="bad gateway")) == "HTTP 502: bad gateway"


def test_token_bucket_paces_to_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(1000.0, clock=lambda: now[0])
    assert bucket.take(500) == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take(500) == pytest.approx(0.5)
    now[0] = 10.0
    assert bucket.take(100) == 0.0  # idle time refills, up to one second's worth
