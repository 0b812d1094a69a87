"""Drives the load: reports from every chain's stores at a target rate (open loop: a
slow answer does not slow the schedule) or as fast as a number of clients can (closed
loop), and CCTV uploads for a share of them once their case reached the force."""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.load.mix import ReportMix
from bench.load.world import Chain

UPLOAD_ATTEMPTS = 10
RETRIES = 2  # a 503 (FerretDB busy) is retried with the same Idempotency-Key, as the CLI does


@dataclass
class Tally:
    sent: int = 0
    accepted: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    http_ms: list[float] = field(default_factory=list)
    # report id -> when its submission started (perf_counter; the scheduled time at a rate)
    submitted: dict[str, float] = field(default_factory=dict)
    first_at: float = 0.0
    last_accepted_at: float = 0.0
    offences: Counter[str] = field(default_factory=Counter)
    offenders: int = 0
    value_pence: int = 0
    evidence_wanted: list[str] = field(default_factory=list)
    evidence_uploaded: int = 0
    evidence_failed: Counter[str] = field(default_factory=Counter)
    evidence_upload_s: list[float] = field(default_factory=list)
    # report id -> when its upload was completed (perf_counter), to time the re-sent case
    evidence_completed: dict[str, float] = field(default_factory=dict)


class LoadDriver:
    def __init__(
        self,
        intake_url: str,
        evidence_url: str,
        chains: list[Chain],
        mix: ReportMix,
        clip: Path | None,
        seed: int,
    ) -> None:
        self.chains, self.mix, self.clip = chains, mix, clip
        self.rng = random.Random(seed)
        self.tally = Tally()
        self.intake_url, self.evidence_url = intake_url, evidence_url
        self.http = httpx.AsyncClient(
            base_url=intake_url,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            timeout=60.0,
        )
        self.uploads: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def reset(self) -> None:
        """Forget what was sent so far (the warm-up), uploads still queued included."""
        self.tally = Tally()
        self.uploads = asyncio.Queue()

    async def close(self) -> None:
        await self.http.aclose()

    # --- reports --------------------------------------------------------------------------

    async def at_rate(self, rate: float, seconds: float) -> None:
        count = int(rate * seconds)
        start = time.perf_counter()
        self.tally.first_at = start
        tasks: set[asyncio.Task[None]] = set()
        for i in range(count):
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            task = asyncio.create_task(self._one(scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    async def as_fast_as_possible(self, clients: int, seconds: float) -> None:
        start = time.perf_counter()
        self.tally.first_at = start
        stop_at = start + seconds

        async def client() -> None:
            while time.perf_counter() < stop_at:
                await self._one(time.perf_counter())

        await asyncio.gather(*(client() for _ in range(clients)))

    async def _one(self, started: float) -> None:
        chain = self.rng.choice(self.chains)
        store = self.rng.choice(chain.stores)
        body, with_evidence = self.mix.report(store)
        tally = self.tally
        tally.sent += 1
        tally.offences[body["offence_type"]] += 1
        tally.offenders += len(body["offenders"])
        tally.value_pence += sum(i["quantity"] * i["unit_value_pence"] for i in body["items"])
        headers = {
            "Authorization": f"Bearer {chain.api_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"load-{secrets.token_hex(8)}",
        }
        content = json.dumps(body).encode()
        response = None
        for attempt in range(RETRIES + 1):
            try:
                response = await self.http.post("/v1/reports", content=content, headers=headers)
            except httpx.TransportError as exc:
                tally.errors[type(exc).__name__] += 1
                return
            if response.status_code != 503 or attempt == RETRIES:
                break
            tally.errors["503 retried"] += 1
            await asyncio.sleep(0.5 * (attempt + 1))
        assert response is not None
        now = time.perf_counter()
        tally.http_ms.append((now - started) * 1000)
        if response.status_code != 202:
            tally.errors[str(response.status_code)] += 1
            return
        tally.accepted += 1
        tally.last_accepted_at = now
        report_id = response.json()["report_id"]
        tally.submitted[report_id] = started
        if with_evidence and self.clip is not None:
            tally.evidence_wanted.append(report_id)
            self.uploads.put_nowait((report_id, chain.api_key))

    # --- evidence ---------------------------------------------------------------------------

    async def upload_worker(self, routed: dict[str, float], stop_at: float) -> None:
        """Uploads CCTV for queued reports once each case is on its force's topic (so the
        evidence service has most likely seen the report), until `stop_at` (perf_counter)."""
        while time.perf_counter() < stop_at:
            try:
                report_id, api_key = await asyncio.wait_for(self.uploads.get(), timeout=1.0)
            except TimeoutError:
                continue
            while report_id not in routed and time.perf_counter() < stop_at:
                await asyncio.sleep(0.2)
            if report_id not in routed:
                self.tally.evidence_failed["case not routed in time"] += 1
                continue
            await asyncio.to_thread(self._upload, report_id, api_key)

    def _upload(self, report_id: str, api_key: str) -> None:
        """`shopwatch upload`'s client code; the server's verification is not waited for
        here (the case re-sent with the hash, seen on the force topic, times it)."""
        from shopwatch.cli.upload import Uploader, UploadError

        assert self.clip is not None
        path = unique_copy(self.clip, report_id)
        started = time.perf_counter()
        try:
            with httpx.Client(
                base_url=self.evidence_url,
                headers={"Authorization": f"Bearer {api_key}"},
                timeout=60,
            ) as client:
                uploader = Uploader(client, parallel=2)
                try:
                    for attempt in range(UPLOAD_ATTEMPTS):
                        try:
                            uploader.upload(report_id, path, wait_for=None)
                            break
                        except UploadError:
                            # The evidence service consumes reports on its own and answers
                            # 404 until it has this one: try again shortly.
                            if attempt == UPLOAD_ATTEMPTS - 1:
                                raise
                            time.sleep(0.5)
                finally:
                    uploader.close()
        except (UploadError, httpx.HTTPError) as exc:
            self.tally.evidence_failed[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            return
        finally:
            path.unlink(missing_ok=True)
        done = time.perf_counter()
        self.tally.evidence_upload_s.append(done - started)
        self.tally.evidence_completed[report_id] = done
        self.tally.evidence_uploaded += 1


def unique_copy(clip: Path, tag: str) -> Path:
    """The clip with a trailing MP4 `free` box of random bytes (players skip it), so each
    upload is a distinct file with its own SHA-256."""
    path = clip.with_name(f"{clip.stem}-{tag}{clip.suffix}")
    padding = os.urandom(32)
    path.write_bytes(clip.read_bytes() + (8 + len(padding)).to_bytes(4, "big") + b"free" + padding)
    return path
