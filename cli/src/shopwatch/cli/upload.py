"""`shopwatch upload REPORT_ID FILE...`: CCTV and stills to the evidence service.

Bytes go straight to storage through presigned part URLs, several parts at a time.
Re-running the same command after an interruption continues where it stopped: the
service finds the open upload of the same file (same report, size and SHA-256) and
`GET /uploaded` says which parts storage already holds. When the upload is complete the
command waits for the server's verification and prints the hash the server computed.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from shopwatch.cli.app import app
from shopwatch.cli.output import emit, fail, info, state

DEFAULT_URL = "http://127.0.0.1:8002"
PART_ATTEMPTS = 5
HASH_CHUNK = 8 * 1024 * 1024
FINAL = ("stored", "rejected", "deleted")


class UploadError(Exception):
    """A refusal or failure, in one line the user can act on."""


# --- small pure helpers (unit-tested) --------------------------------------------------------


def format_ranges(numbers: Sequence[int]) -> str:
    """`[1, 2, 3, 5, 7, 8]` -> `"1-3,5,7-8"` (the `numbers` query of GET /parts)."""
    ordered = sorted(set(numbers))
    runs: list[str] = []
    start = prev = None
    for n in ordered:
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            runs.append(f"{start}-{prev}" if start != prev else str(start))
            start = prev = n
    if start is not None:
        runs.append(f"{start}-{prev}" if start != prev else str(start))
    return ",".join(runs)


def batches(numbers: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(numbers), size):
        yield list(numbers[start : start + size])


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*(?:/s)?\s*$", re.I)


def parse_rate(text: str) -> float:
    """`"2M"`, `"500k"`, `"1.5MB/s"` -> bytes per second (binary multiples)."""
    match = _RATE.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate such as 500K or 2M")
    scale = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2).lower()]
    return float(match.group(1)) * scale


def guess_media_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and guessed.split("/", 1)[0] in ("video", "image"):
        return guessed
    return "application/octet-stream"  # the server decides by content anyway


def sha256_file(path: Path, on_progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
            if on_progress is not None:
                on_progress(len(chunk))
    return digest.hexdigest()


def error_line(response: httpx.Response) -> str:
    """The service's `{"detail", "field"}` (or FastAPI's 422 list) as one line."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list) and detail:
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", [])[1:]) or "request"
        return f"{where}: {first.get('msg', 'invalid')}"
    field_name = body.get("field") if isinstance(body, dict) else None
    text = str(detail or f"HTTP {response.status_code}")
    return f"{field_name}: {text}" if field_name else text


class TokenBucket:
    """A shared bandwidth cap for all part uploads (a shop's uplink is often all it has)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.allowance = 0.0
        self.last = clock()
        self.lock = threading.Lock()

    def take(self, amount: int) -> float:
        """Reserve `amount` bytes; returns how long to sleep before sending them."""
        with self.lock:
            now = self.clock()
            self.allowance = min(self.rate, self.allowance + (now - self.last) * self.rate)
            self.last = now
            self.allowance -= amount
            return max(0.0, -self.allowance / self.rate)


# --- the upload ----------------------------------------------------------------------------------


@dataclass
class FileResult:
    file: str
    evidence_id: str = ""
    exhibit_ref: str = ""
    status: str = ""
    sha256: str = ""
    size: int = 0
    parts_total: int = 0
    parts_sent: int = 0
    parts_already_uploaded: int = 0
    resumed: bool = False
    rejection: dict[str, Any] | None = None
    derivatives: list[dict[str, Any]] = field(default_factory=list)


class Uploader:
    def __init__(
        self,
        client: httpx.Client,
        *,
        parallel: int = 4,
        rate: float | None = None,
        progress: Progress | None = None,
        part_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.parts_http = part_client or httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0))
        self.parallel = parallel
        self.bucket = TokenBucket(rate) if rate else None
        self.progress = progress
        self.sleep = sleep

    def close(self) -> None:
        self.parts_http.close()

    def upload(
        self,
        report_id: str,
        path: Path,
        *,
        media_type: str | None = None,
        stills: Sequence[float] = (),
        wait_for: float | None = 900.0,
    ) -> FileResult:
        size = path.stat().st_size
        result = FileResult(file=str(path), size=size)
        task = self._task(f"hashing {path.name}", size)
        local_sha = sha256_file(path, lambda n: self._advance(task, n))
        self._done(task)
        session = self._call(
            "POST",
            f"/v1/reports/{report_id}/evidence",
            json={
                "file_name": path.name,
                "size": size,
                "media_type": media_type or guess_media_type(path),
                "sha256": local_sha,
                "stills_at_seconds": list(stills),
            },
            expect=(200, 201),
        )
        evidence_id = session["evidence_id"]
        result.evidence_id, result.exhibit_ref = evidence_id, session["exhibit_ref"]
        result.parts_total, result.resumed = int(session["part_count"]), bool(session["resumed"])
        if session["status"] == "initiated":
            self._send_parts(path, session, result)
            self._complete(path, session, result)
        else:
            result.parts_already_uploaded = result.parts_total
        final = self._wait(evidence_id, wait_for) if wait_for is not None else session
        result.status = final["status"]
        result.sha256 = final.get("sha256") or ""
        result.rejection = final.get("rejection")
        result.derivatives = final.get("derivatives") or []
        if result.status == "stored" and result.sha256 != local_sha:
            raise UploadError(
                f"{path.name}: the server's SHA-256 {result.sha256} differs from the file's"
                f" {local_sha}"
            )
        return result

    # --- parts ------------------------------------------------------------------------------

    def _send_parts(self, path: Path, session: dict[str, Any], result: FileResult) -> None:
        evidence_id = session["evidence_id"]
        state_now = self._call("GET", f"/v1/evidence/{evidence_id}/uploaded")
        missing: list[int] = list(state_now["missing"])
        part_size, size = int(session["part_size"]), int(session["size_bytes"])
        result.parts_already_uploaded = result.parts_total - len(missing)
        task = self._task(f"uploading {path.name}", size)
        self._advance(task, size - sum(_length(n, part_size, size) for n in missing))
        per_request = int(session.get("max_parts_per_request") or 100)
        fd = os.open(path, os.O_RDONLY)
        try:
            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                for numbers in batches(missing, per_request):
                    urls = self._part_urls(evidence_id, numbers)
                    futures = [
                        pool.submit(self._send_part, fd, evidence_id, urls[n], task)
                        for n in numbers
                    ]
                    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                    for future in done:
                        future.result()  # re-raise the first failure
                    for future in futures:
                        future.result()
                    result.parts_sent += len(numbers)
        finally:
            os.close(fd)
        self._done(task)

    def _part_urls(self, evidence_id: str, numbers: list[int]) -> dict[int, dict[str, Any]]:
        body = self._call(
            "GET", f"/v1/evidence/{evidence_id}/parts", params={"numbers": format_ranges(numbers)}
        )
        return {int(p["number"]): p for p in body["parts"]}

    def _send_part(self, fd: int, evidence_id: str, part: dict[str, Any], task: Any) -> None:
        number, length = int(part["number"]), int(part["length"])
        data = os.pread(fd, length, int(part["offset"]))
        if len(data) != length:
            raise UploadError("the file changed while uploading (it is shorter now)")
        url = str(part["url"])
        for attempt in range(1, PART_ATTEMPTS + 1):
            counted = [0]
            try:
                response = self.parts_http.put(
                    url,
                    content=self._chunks(data, task, counted),
                    headers={"Content-Length": str(length)},
                )
            except httpx.TransportError as exc:
                self._advance(task, -counted[0])
                if attempt == PART_ATTEMPTS:
                    raise UploadError(
                        f"cannot send part {number}: {exc}; re-run to resume"
                    ) from exc
                self.sleep(min(2.0**attempt, 30.0))
                continue
            if response.status_code == 200:
                return
            self._advance(task, -counted[0])
            if response.status_code == 403 and attempt < PART_ATTEMPTS:
                # The presigned URL expired (a long pause, a slow line): get a fresh one.
                url = str(self._part_urls(evidence_id, [number])[number]["url"])
            elif response.status_code < 500:
                raise UploadError(f"storage refused part {number}: HTTP {response.status_code}")
            else:
                self.sleep(min(2.0**attempt, 30.0))
        raise UploadError(f"part {number} failed {PART_ATTEMPTS} times; re-run to resume")

    def _chunks(self, data: bytes, task: Any, counted: list[int]) -> Iterator[bytes]:
        """The part in 256 KiB pieces, paced by the rate cap, advancing the bar as sent."""
        view = memoryview(data)
        step = 256 * 1024
        for start in range(0, len(view), step):
            chunk = view[start : start + step]
            if self.bucket is not None:
                delay = self.bucket.take(len(chunk))
                if delay:
                    self.sleep(delay)
            yield bytes(chunk)
            counted[0] += len(chunk)
            self._advance(task, len(chunk))

    def _complete(self, path: Path, session: dict[str, Any], result: FileResult) -> None:
        evidence_id = session["evidence_id"]
        response = self.client.post(f"/v1/evidence/{evidence_id}/complete")
        if response.status_code == 409 and (response.json() or {}).get("code") == (
            "incomplete_upload"
        ):
            self._send_parts(path, session, result)  # a part went missing: send it again
            response = self.client.post(f"/v1/evidence/{evidence_id}/complete")
        if response.status_code == 409 and "already" in response.text:
            return  # completed by an earlier run that was cut off before it heard back
        if response.status_code != 202:
            raise UploadError(f"{path.name}: {error_line(response)}")

    def _wait(self, evidence_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        delay = 0.25
        task = self._task("verifying on the server", None)
        try:
            while True:
                doc = self._call("GET", f"/v1/evidence/{evidence_id}")
                if doc["status"] in FINAL:
                    return doc
                if time.monotonic() >= deadline:
                    raise UploadError(
                        f"evidence {evidence_id} is still {doc['status']} after {timeout:.0f}s;"
                        " re-run the same command later to see the result"
                    )
                self.sleep(delay)
                delay = min(delay * 1.5, 3.0)
        finally:
            self._done(task)

    # --- plumbing ---------------------------------------------------------------------------------

    def _call(
        self, method: str, url: str, *, expect: tuple[int, ...] = (200,), **kwargs: Any
    ) -> dict[str, Any]:
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == PART_ATTEMPTS:
                    raise UploadError(f"cannot reach {self.client.base_url}: {exc}") from exc
                self.sleep(min(2.0**attempt, 30.0))
                continue
            if response.status_code in expect:
                body: dict[str, Any] = response.json()
                return body
            if response.status_code == 401:
                raise UploadError("the API key was refused (missing, invalid or revoked)")
            if response.status_code in (502, 503, 504) and attempt < PART_ATTEMPTS:
                self.sleep(float(response.headers.get("Retry-After", "2")))
                continue
            raise UploadError(error_line(response))
        raise UploadError(f"{method} {url} kept failing")

    def _task(self, description: str, total: int | None) -> Any:
        if self.progress is None:
            return None
        return self.progress.add_task(description, total=total)

    def _advance(self, task: Any, amount: int) -> None:
        if self.progress is not None and task is not None and amount:
            self.progress.advance(task, amount)

    def _done(self, task: Any) -> None:
        if self.progress is not None and task is not None:
            self.progress.update(task, visible=False)


def _length(number: int, part_size: int, size: int) -> int:
    return min(part_size, size - (number - 1) * part_size)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=state.json_output,
        transient=True,
    )


@app.command()
def upload(
    report_id: Annotated[str, typer.Argument(help="The report the evidence belongs to.")],
    files: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, readable=True, help="CCTV exports or stills."),
    ],
    api_url: Annotated[str, typer.Option(envvar="SHOPWATCH_EVIDENCE_URL")] = DEFAULT_URL,
    api_key: Annotated[
        str | None, typer.Option(envvar="SHOPWATCH_API_KEY", help="Retailer API key.")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, max=32, help="Parts sent at once.")] = 4,
    limit_rate: Annotated[
        str | None, typer.Option(help="Cap the upload speed, e.g. 500K or 2M (bytes/s).")
    ] = None,
    media_type: Annotated[
        str | None, typer.Option(help="Declared media type (default: from the file name).")
    ] = None,
    still: Annotated[
        list[float] | None,
        typer.Option(help="Also make a full-resolution still at this second (repeatable)."),
    ] = None,
    wait_verified: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for the server's verification.")
    ] = True,
    wait_timeout: Annotated[float, typer.Option(min=1)] = 900.0,
) -> None:
    """Upload CCTV or stills for a report; re-run the same command to resume."""
    if not api_key:
        fail("no API key: pass --api-key or set SHOPWATCH_API_KEY", code=2)
    try:
        rate = parse_rate(limit_rate) if limit_rate else None
    except ValueError as exc:
        fail(f"--limit-rate: {exc}", code=2)
    results: list[FileResult] = []
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        with (
            httpx.Client(base_url=api_url, headers=headers, timeout=60.0) as client,
            _progress() as progress,
        ):
            uploader = Uploader(client, parallel=parallel, rate=rate, progress=progress)
            try:
                for path in files:
                    results.append(
                        uploader.upload(
                            report_id,
                            path,
                            media_type=media_type,
                            stills=still or (),
                            wait_for=wait_timeout if wait_verified else None,
                        )
                    )
            finally:
                uploader.close()
    except UploadError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; re-run the same command to resume where it stopped", code=130)
    _report(results)


def _report(results: list[FileResult]) -> None:
    rejected = [r for r in results if r.status == "rejected"]
    lines = []
    for r in results:
        if r.status == "stored":
            lines.append(f"{r.file}: stored as {r.exhibit_ref} ({r.evidence_id}) sha256 {r.sha256}")
        elif r.status == "rejected":
            why = r.rejection or {}
            lines.append(f"{r.file}: rejected ({why.get('reason')}): {why.get('detail')}")
        else:
            lines.append(f"{r.file}: {r.status} as {r.exhibit_ref} ({r.evidence_id})")
    emit({"files": [vars(r) for r in results]}, "\n".join(lines))
    if rejected:
        info(f"{len(rejected)} file(s) rejected")
        raise typer.Exit(1)
