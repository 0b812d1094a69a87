"""Intake throughput and latency on the local stack, with a raw Kafka producer as baseline.

Each intake phase runs `python -m shopwatch.intake` as its own process, on a database and
topic prefix of its own (so a phase never pays for the previous phase's documents or
outbox backlog), and measures:

(a) single: `POST /v1/reports` from N concurrent clients (keep-alive), closed loop, for S
    seconds: accepted reports/s, p50/p99 latency;
(b) batch: `POST /v1/reports/batch` with 500-report batches from a few clients:
    accepted reports/s;
(c) raw: in the same run, an aiokafka producer (acks=all, idempotent) sends the same
    serialized `ReportSubmitted` envelopes the outbox relay sends, to a topic with the
    same partitions: reports/s; the ratios batch/raw and single/raw;
(d) paced: 200 reports/s, open loop, for ~20 s: p50/p99 latency measured from each
    request's scheduled start (so a stall is not hidden by the client waiting);
(e) the intake process's peak RSS (VmHWM) in each phase.

For every intake phase it also reports how many of the accepted reports the outbox relay
had put on Kafka by the end of a short grace period, and at what rate: accepting a report
(durable in MongoDB) and publishing it are separate steps, and on FerretDB they differ.

    uv run python -m bench.intake.bench_intake
    uv run python -m bench.intake.bench_intake --single-seconds 10 --paced-seconds 10
    uv run python -m bench.intake.bench_intake --profile bench/out   # py-spy, one file per phase

Prints a table and replaces the "latest run" section of bench/intake/RESULTS-intake.md
(`--no-write` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient

from bench.common import (
    ROOT,
    free_port,
    machine_info,
    machine_line,
    markdown_table,
    peak_rss_bytes,
    percentile,
    settle_database,
    stack_env,
    start_service,
    stop_service,
    update_section,
    wait_ready,
)
from bench.common.http_client import Answer, HttpClientError, LeanClient
from bench.common.kafka import FirstArrivals, report_id_of
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.runtime.codec import encode_envelope
from shopwatch.runtime.provisioning import planned_topics
from shopwatch.schemas.events import ReportSubmitted
from shopwatch.schemas.examples import example_report, example_store
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, REPORTS_SUBMITTED, dlq_topic

RESULTS = Path(__file__).with_name("RESULTS-intake.md")


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)
    published: int = 0
    published_seconds: float = 0.0
    peak_rss: int | None = None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


# --- inputs ----------------------------------------------------------------------------


def report_bodies(store_id: str, count: int, tag: str) -> list[dict[str, Any]]:
    base = example_report().model_dump(mode="json")
    base["store_id"] = store_id
    when = datetime.now(UTC) - timedelta(hours=2)
    bodies = []
    for n in range(count):
        body = dict(base)
        body["occurred_at"] = (when - timedelta(seconds=n)).isoformat()
        body["retailer_incident_ref"] = f"{tag}-{n:07d}"
        bodies.append(body)
    return bodies


def raw_payloads(count: int) -> list[tuple[bytes, bytes]]:
    """(key, value) exactly as the relay publishes a ReportSubmitted: the contract's encoding
    of the envelope, keyed by report id."""
    report, store = example_report(), example_store()
    payloads = []
    for n in range(count):
        event = ReportSubmitted(
            report_id=f"rep_{n:032x}",
            reference=f"SW-20261129-{n + 1:06d}",
            retailer_id="ret_bench",
            store=store,
            report=report.model_copy(update={"retailer_incident_ref": f"RAW-{n:07d}"}),
            submitted_at=datetime.now(UTC),
        )
        envelope = make_envelope(event, producer="intake")
        payloads.append((event.report_id.encode(), encode_envelope(envelope)))
    return payloads


# --- Kafka -----------------------------------------------------------------------------


async def create_topics(bootstrap: str, prefix: str) -> tuple[list[str], str, int]:
    """Intake's topics under `prefix` (registry partition counts) and a raw-baseline topic
    with as many partitions as the intake topic; returns (all names, raw topic, partitions)."""
    wanted = {REPORTS_SUBMITTED, CASES_STATUS_CHANGED, dlq_topic(CASES_STATUS_CHANGED)}
    plan = [(name, parts) for name, spec, parts in planned_topics(prefix) if spec.name in wanted]
    partitions = next(
        p for name, spec, p in planned_topics(prefix) if spec.name == REPORTS_SUBMITTED
    )
    raw = f"{prefix}bench.raw-baseline"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [NewTopic(name, parts, 1) for name, parts in plan]
        topics.append(NewTopic(raw, partitions, 1))
        await admin.create_topics(topics)
    finally:
        await admin.close()
    return [t.name for t in topics], raw, partitions


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def raw_baseline(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> Phase:
    phase = Phase("raw aiokafka producer")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, payloads[0][1], key=payloads[0][0])  # warm-up
        started = time.perf_counter()
        # Enqueue all, then await delivery: how the relay sends a batch of documents.
        futures = [await producer.send(topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
        phase.seconds = time.perf_counter() - started
        phase.accepted = len(payloads)
    finally:
        await producer.stop()
    phase.note = f"{len(payloads)} records of {len(payloads[0][1])} bytes"
    return phase


# --- an intake process per phase --------------------------------------------------------


@dataclass
class Intake:
    url: str
    pid: int
    api_key: str
    store_id: str
    database: str


class IntakeRunner:
    def __init__(self, env: dict[str, str], prefix: str, logs: Path, profile: Path | None):
        self.env, self.prefix, self.logs, self.profile = env, prefix, logs, profile
        self.databases: list[str] = []

    async def run(self, name: str, body: Any) -> Phase:
        """Start intake on a fresh database, register a tenant, run `body(intake)`, stop."""
        database = f"bench_intake_{self.prefix.strip('.')}_{name}"
        self.databases.append(database)
        port = free_port()
        env = {
            **self.env,
            "SHOPWATCH_TOPIC_PREFIX": self.prefix,
            "SHOPWATCH_MONGO_DATABASE": database,
            "SHOPWATCH_SERVICE_PORT": str(port),
            "SHOPWATCH_SERVICE_HOST": "127.0.0.1",
            # The benchmark is one tenant pushing as hard as it can; the limit is not measured.
            "SHOPWATCH_RATE_LIMIT_PER_SECOND": "1000000",
            "SHOPWATCH_RATE_LIMIT_BURST": "1000000",
            "SHOPWATCH_LOG_LEVEL": "WARNING",
        }
        log = self.logs / f"bench-intake-{name}.log"
        process = start_service("shopwatch.intake", env, log)
        sampler = (
            None
            if self.profile is None
            else _sample_stacks(process.pid, self.profile / f"intake-profile-{name}.txt")
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await asyncio.to_thread(wait_ready, url, process, log)
            api_key, store_id = await register_tenant(self.env["SHOPWATCH_MONGO_URL"], database)
            phase: Phase = await body(Intake(url, process.pid, api_key, store_id, database))
            phase.peak_rss = peak_rss_bytes(process.pid)
            return phase
        finally:
            await asyncio.to_thread(stop_service, process)
            if sampler is not None:  # py-spy writes its file when the process is gone
                await asyncio.to_thread(sampler.wait, 60)
            # FerretDB idle again before the next phase, and safe to drop later.
            await asyncio.to_thread(
                settle_database, self.env["SHOPWATCH_MONGO_URL"], database, "reports"
            )

    async def drop_databases(self) -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.env["SHOPWATCH_MONGO_URL"])
        try:
            for name in self.databases:
                await client.drop_database(name)
        finally:
            await client.close()


def _sample_stacks(pid: int, out: Path) -> subprocess.Popen[bytes]:
    # py-spy samples from outside, so the service runs unchanged (an in-process profiler
    # never wrote its report: uvicorn re-raises SIGTERM after its shutdown). `raw` is the
    # collapsed-stack text any flame-graph tool reads; one line per stack with its count.
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "200",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def register_tenant(mongo_url: str, database: str) -> tuple[str, str]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        tenants = MongoTenants(client[database])
        await tenants.ensure_indexes()
        admin = IntakeAdmin(tenants)
        retailer, key = await admin.add_retailer("Bench Stores")
        store = await admin.add_store(
            retailer.retailer_id,
            name="Bench Durham",
            address_lines=["1 Market Place"],
            town="Durham",
            postcode="DH1 3NJ",
        )
    finally:
        await client.close()
    return key.api_key, store.store_id


# --- the phases ------------------------------------------------------------------------


def _client(intake: Intake, connections: int) -> LeanClient:
    # Not httpx: its CPU per request came out of the two cores intake runs on (see
    # bench/common/http_client.py).
    return LeanClient(
        intake.url,
        {"Authorization": f"Bearer {intake.api_key}", "Content-Type": "application/json"},
        connections,
    )


async def _post(phase: Phase, http: LeanClient, path: str, body: bytes) -> Answer | None:
    """The answer, or None (counted as an error) when the connection failed."""
    try:
        return await http.post(path, content=body)
    except HttpClientError as exc:
        phase.error(type(exc).__name__)
        return None


async def single(intake: Intake, clients: int, seconds: float) -> Phase:
    phase = Phase(f"single POST /v1/reports, {clients} clients")
    bodies = [json.dumps(b).encode() for b in report_bodies(intake.store_id, 50_000, "S")]
    cursor = iter(bodies)
    async with _client(intake, clients) as http:
        await http.get("/v1/me")  # connection and key cache warm-up
        started = time.perf_counter()
        stop_at = started + seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                body = next(cursor)
                sent = time.perf_counter()
                response = await _post(phase, http, "/v1/reports", body)
                phase.latencies_ms.append((time.perf_counter() - sent) * 1000)
                if response is None:
                    continue
                if response.status_code == 202:
                    phase.accepted += 1
                    phase.report_ids.append(response.json()["report_id"])
                else:
                    phase.error(str(response.status_code))

        await asyncio.gather(*(worker() for _ in range(clients)))
        phase.seconds = time.perf_counter() - started
    return phase


async def batch(intake: Intake, clients: int, batches: int, size: int) -> Phase:
    phase = Phase(f"batch POST /v1/reports/batch, {size} per batch, {clients} clients")
    reports = report_bodies(intake.store_id, batches * size, "B")
    bodies = [
        json.dumps({"items": [{"report": r} for r in reports[i : i + size]]}).encode()
        for i in range(0, len(reports), size)
    ]
    queue = list(reversed(bodies))
    async with _client(intake, clients) as http:
        await http.get("/v1/me")
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                body = queue.pop()
                sent = time.perf_counter()
                response = await _post(phase, http, "/v1/reports/batch", body)
                phase.latencies_ms.append((time.perf_counter() - sent) * 1000)
                if response is None:
                    continue
                if response.status_code != 207:
                    phase.error(str(response.status_code))
                    continue
                answer = response.json()
                phase.accepted += answer["accepted"]
                phase.report_ids += [r["report_id"] for r in answer["results"] if r["report_id"]]
                if answer["rejected"]:
                    phase.error("rejected items")

        await asyncio.gather(*(worker() for _ in range(clients)))
        phase.seconds = time.perf_counter() - started
    phase.note = f"{batches} batches"
    return phase


async def paced(intake: Intake, rate: float, seconds: float) -> Phase:
    phase = Phase(f"paced POST /v1/reports at {rate:.0f}/s")
    count = int(rate * seconds)
    bodies = [json.dumps(b).encode() for b in report_bodies(intake.store_id, count, "P")]
    late = 0
    async with _client(intake, 256) as http:
        await http.get("/v1/me")
        started = time.perf_counter()

        async def one(i: int, body: bytes) -> None:
            nonlocal late
            scheduled = started + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.005:
                late += 1
            response = await _post(phase, http, "/v1/reports", body)
            # From the scheduled start: a client that fell behind does not hide a stall.
            phase.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
            if response is None:
                return
            if response.status_code == 202:
                phase.accepted += 1
                phase.report_ids.append(response.json()["report_id"])
            else:
                phase.error(str(response.status_code))

        await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
        phase.seconds = time.perf_counter() - started
    phase.note = f"{count} requests; {late} started >5 ms late"
    return phase


async def with_publication(
    arrivals: FirstArrivals, phase: Phase, started: float, grace_s: float
) -> None:
    """How many accepted reports the relay had published after `grace_s`, and how fast."""
    ids = set(phase.report_ids)
    await arrivals.wait_for(ids, grace_s)
    times = [arrivals.seen[i] for i in ids if i in arrivals.seen]
    phase.published = len(times)
    phase.published_seconds = (max(times) - started) if times else 0.0


# --- run and report --------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> tuple[list[Phase], dict[str, Any]]:
    env = stack_env()
    bootstrap = env["SHOPWATCH_KAFKA_BOOTSTRAP"]
    prefix = f"bi{secrets.token_hex(3)}."
    logs = ROOT / ".cache" / "local" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    topics, raw_topic, partitions = await create_topics(bootstrap, prefix)
    info["partitions"] = partitions
    runner = IntakeRunner(env, prefix, logs, args.profile)
    arrivals = FirstArrivals(bootstrap, [f"{prefix}{REPORTS_SUBMITTED}"], report_id_of)
    await arrivals.start()
    phases: list[Phase] = []
    try:
        print("raw producer ...", flush=True)
        phases.append(await raw_baseline(bootstrap, raw_topic, raw_payloads(args.raw_reports)))

        async def measured(name: str, body: Any) -> None:
            print(f"{name} ...", flush=True)

            async def run(intake: Intake) -> Phase:
                started = time.perf_counter()
                phase: Phase = await body(intake)
                await with_publication(arrivals, phase, started, args.grace_seconds)
                return phase

            phases.append(await runner.run(name, run))

        await measured("paced", lambda i: paced(i, args.paced_rate, args.paced_seconds))
        await measured("single", lambda i: single(i, args.clients, args.single_seconds))
        await measured(
            "batch", lambda i: batch(i, args.batch_clients, args.batches, args.batch_size)
        )
    finally:
        await arrivals.stop()
        await runner.drop_databases()
        await delete_topics(bootstrap, topics)
    return phases, info


def render(phases: list[Phase], info: dict[str, Any], command: str) -> str:
    raw = phases[0].rate
    rows = []
    for p in phases:
        is_raw = p is phases[0]
        rows.append(
            [
                p.name,
                f"{p.accepted}",
                f"{p.rate:,.0f}",
                "1.00" if is_raw else f"{p.rate / raw:.3f}",
                "" if is_raw else f"{percentile(p.latencies_ms, 50):.1f}",
                "" if is_raw else f"{percentile(p.latencies_ms, 99):.1f}",
                "" if is_raw else f"{p.published}/{p.accepted}",
                ""
                if is_raw or not p.published_seconds
                else f"{p.published / p.published_seconds:,.0f}",
                "" if p.peak_rss is None else f"{p.peak_rss / 1024 / 1024:.0f}",
                ", ".join([p.note] + [f"{k}: {v}" for k, v in p.errors.items()]).strip(", "),
            ]
        )
    header = [
        "phase",
        "accepted",
        "reports/s",
        "x raw",
        "p50 ms",
        "p99 ms",
        "on Kafka",
        "published/s",
        "peak RSS MiB",
        "notes",
    ]
    single = next(p for p in phases if p.name.startswith("single"))
    batched = next(p for p in phases if p.name.startswith("batch"))
    paced_ = next(p for p in phases if p.name.startswith("paced"))
    p99 = percentile(paced_.latencies_ms, 99)
    verdicts = [
        f"- batch / raw = {batched.rate / raw:.3f} (target >= 0.5: "
        f"{'met' if batched.rate / raw >= 0.5 else 'missed'})",
        f"- single / raw = {single.rate / raw:.3f}",
        f"- p99 at {paced_.name.split(' at ')[-1]} = {p99:.1f} ms (target < 50 ms: "
        f"{'met' if p99 < 50 else 'missed'})",
    ]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"## Latest run ({when})",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {machine_line(info)}; intake topic and raw topic "
            f"{info['partitions']} partitions, one broker.",
            "",
            markdown_table(header, rows),
            "",
            *verdicts,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="single: concurrent clients")
    parser.add_argument("--single-seconds", type=float, default=15)
    parser.add_argument("--batches", type=int, default=20, help="batch: how many batches")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-clients", type=int, default=2)
    parser.add_argument("--raw-reports", type=int, default=10_000)
    parser.add_argument("--paced-rate", type=float, default=200)
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument(
        "--grace-seconds", type=float, default=10, help="wait for the relay after a phase"
    )
    parser.add_argument("--profile", type=Path, help="sample intake with py-spy, stacks here")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS-intake.md")
    args = parser.parse_args()
    command = "uv run python -m bench.intake.bench_intake " + shlex.join(sys.argv[1:])
    phases, info = asyncio.run(main_async(args))
    text = render(phases, info, command.strip())
    print(text)
    if not args.no_write:
        update_section(RESULTS, "latest-run", text, title="Intake benchmark")
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
