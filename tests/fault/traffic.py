"""A steady stream of work through the real services, the way clients would send it.

- `ReportStream`: reports at a fixed rate through intake's HTTP API. A 5xx or a
  connection error (an outage) is retried with the same Idempotency-Key, like a real
  client; only a 202 counts as accepted.
- `EvidenceStream`: a still uploaded for some accepted reports with the CLI's uploader
  (straight to S3 with presigned URLs), retried as a whole while the service or S3 is away.
- `ForceDesk`: reads the forces' cases topics like a force would, notes when each case
  arrives, and answers some with a `crime_recorded` update (so notify emails again). An
  update is built once and re-sent byte for byte until the broker takes it, so a retry
  can never become a second update.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]

from shopwatch.cli.upload import Uploader
from shopwatch.schemas.enums import UpdateKind
from shopwatch.schemas.events import ForceUpdate
from shopwatch.schemas.examples import example_offender, example_report
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import ForceTopicKind, force_topic

log = logging.getLogger(__name__)
RETRY_STATUSES = (429, 502, 503, 504)


@dataclass
class Submission:
    n: int
    key: str
    force: str
    reporter: str
    report_id: str | None = None
    status: str = "pending"  # accepted | rejected:<code> | abandoned
    attempts: int = 0
    accepted_at: float | None = None


@dataclass
class ReportStream:
    intake_url: str
    api_key: str
    stores: dict[str, str]  # force slug -> store id
    mail_domain: str
    rate_per_s: float
    give_up_s: float = 240.0
    submissions: list[Submission] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    retried_answers: dict[str, int] = field(default_factory=dict)

    def accepted(self) -> list[Submission]:
        return [s for s in self.submissions if s.status == "accepted"]

    def body(self, n: int, force: str, reporter: str) -> dict[str, Any]:
        body = example_report().model_dump(mode="json")
        body.update(
            store_id=self.stores[force],
            retailer_incident_ref=f"FAULT-{n}",
            occurred_at=(datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
            cctv_available=n % 10 == 0,
            offenders=[],
        )
        if n % 4 == 0:  # some work for matching, rarely linking (random descriptions)
            offender = example_offender().model_dump(mode="json")
            offender.update(
                name=f"Person {uuid.uuid4().hex[:8]}",
                aliases=[],
                vehicle_registration=None,
                hair=random.choice(["short grey", "long blonde", "shaved", "curly black"]),
            )
            body["offenders"] = [offender]
        body["reporter"]["email"] = reporter
        return body

    async def run(self, stop: asyncio.Event) -> None:
        forces = sorted(self.stores)
        async with httpx.AsyncClient(base_url=self.intake_url, timeout=15) as client:
            n = 0
            while not stop.is_set():
                force = forces[n % len(forces)]
                sub = Submission(
                    n, f"fault-{uuid.uuid4().hex}", force, f"staff{n}@{self.mail_domain}"
                )
                self.submissions.append(sub)
                task = asyncio.create_task(self._submit(client, sub))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                n += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1 / self.rate_per_s)
            if self.tasks:
                await asyncio.wait(set(self.tasks), timeout=self.give_up_s + 30)

    async def _submit(self, client: httpx.AsyncClient, sub: Submission) -> None:
        body = self.body(sub.n, sub.force, sub.reporter)
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": sub.key}
        deadline = time.monotonic() + self.give_up_s
        while time.monotonic() < deadline:
            sub.attempts += 1
            try:
                response = await client.post("/v1/reports", json=body, headers=headers)
            except httpx.TransportError as exc:
                self._count(type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if response.status_code == 202:
                sub.report_id = response.json()["report_id"]
                sub.status, sub.accepted_at = "accepted", time.monotonic()
                return
            if response.status_code in RETRY_STATUSES:
                self._count(str(response.status_code))
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            sub.status = f"rejected:{response.status_code}:{response.text[:200]}"
            return
        sub.status = "abandoned"

    def _count(self, answer: str) -> None:
        self.retried_answers[answer] = self.retried_answers.get(answer, 0) + 1


@dataclass
class Upload:
    report_id: str
    evidence_id: str | None = None
    status: str = "pending"  # the server's final status, or abandoned
    attempts: int = 0
    last_error: str = ""


@dataclass
class EvidenceStream:
    evidence_url: str
    api_key: str
    still: Path
    give_up_s: float = 300.0
    uploads: list[Upload] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def add(self, report_id: str) -> None:
        upload = Upload(report_id)
        self.uploads.append(upload)
        task = asyncio.create_task(asyncio.to_thread(self._upload, upload))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _upload(self, upload: Upload) -> None:
        deadline = time.monotonic() + self.give_up_s
        headers = {"Authorization": f"Bearer {self.api_key}"}
        with httpx.Client(base_url=self.evidence_url, headers=headers, timeout=30) as client:
            uploader = Uploader(client, parallel=1)
            try:
                while time.monotonic() < deadline:
                    upload.attempts += 1
                    try:
                        # Re-running resumes the same upload session (same file, report).
                        result = uploader.upload(upload.report_id, self.still, wait_for=120)
                    except Exception as exc:  # the service, intake or S3 is away: again
                        upload.last_error = f"{type(exc).__name__}: {exc}"[:300]
                        time.sleep(2)
                        continue
                    upload.evidence_id, upload.status = result.evidence_id, result.status
                    return
            finally:
                uploader.close()
        upload.status = "abandoned"

    async def wait(self, timeout_s: float) -> None:
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout_s)


@dataclass
class ForceDesk:
    bootstrap: str
    prefix: str
    forces: list[str]
    update_every: int = 3  # a crime reference for every third report
    answer_after_s: tuple[float, float] = (3.0, 15.0)
    # (case_id, sequence) -> how many times that package arrived
    packages: dict[tuple[str, int], int] = field(default_factory=dict)
    first_seen: dict[str, float] = field(default_factory=dict)
    evidence_seen: set[str] = field(default_factory=set)
    updates_sent: dict[str, str] = field(default_factory=dict)  # case_id -> crime ref
    other_events: int = 0

    def topics(self) -> list[str]:
        return [f"{self.prefix}{force_topic(f, ForceTopicKind.CASES)}" for f in self.forces]

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics(),
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await consumer.start()
        await producer.start()
        sends: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                try:
                    batch = await consumer.getmany(timeout_ms=300)
                except Exception as exc:  # the broker is restarting; the client reconnects
                    log.info("force desk: %r", exc)
                    await asyncio.sleep(0.5)
                    continue
                for record in (r for rs in batch.values() for r in rs):
                    for case_id, force in self._note(json.loads(record.value)):
                        task = asyncio.create_task(self._answer(producer, case_id, force))
                        sends.add(task)
                        task.add_done_callback(sends.discard)
            if sends:
                await asyncio.wait(set(sends), timeout=120)
        finally:
            await consumer.stop()
            await producer.stop()

    def _note(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        if event.get("event_type") != "case.routed":
            self.other_events += 1
            return []
        payload = event["payload"]
        case_id, sequence = payload["case_id"], int(payload["sequence"])
        key = (case_id, sequence)
        self.packages[key] = self.packages.get(key, 0) + 1
        self.evidence_seen.update(e["evidence_id"] for e in payload.get("evidence") or [])
        if case_id in self.first_seen:
            return []
        self.first_seen[case_id] = time.monotonic()
        # The stream numbers its reports in the retailer's own reference, FAULT-<n>.
        ref = str(payload["report"].get("retailer_incident_ref") or "")
        n = int(ref.removeprefix("FAULT-")) if ref.startswith("FAULT-") else None
        if n is not None and n % self.update_every == 0:
            return [(case_id, payload["force"])]
        return []

    async def _answer(self, producer: AIOKafkaProducer, case_id: str, force: str) -> None:
        # A force answers some seconds later, so updates keep arriving through every
        # outage (and routing and notify have work in flight when a server goes away).
        await asyncio.sleep(random.uniform(*self.answer_after_s))
        crime_ref = f"FLT/{len(self.updates_sent):05d}/26"
        update = ForceUpdate(
            case_id=case_id,
            force=force,
            kind=UpdateKind.CRIME_RECORDED,
            crime_reference=crime_ref,
            updated_at=datetime.now(UTC),
        )
        value = make_envelope(update, producer="force-cli", correlation_id=case_id)
        data = value.model_dump_json().encode()
        topic = f"{self.prefix}{force_topic(force, ForceTopicKind.UPDATES)}"
        self.updates_sent[case_id] = crime_ref
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                await producer.send_and_wait(topic, data, key=case_id.encode())
                return
            except Exception as exc:  # the broker is restarting: the same bytes again
                log.info("force update for %s not sent yet: %r", case_id, exc)
                await asyncio.sleep(1)
        raise AssertionError(f"the force update for {case_id} could not be sent in 180 s")
