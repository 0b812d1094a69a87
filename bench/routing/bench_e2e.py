"""End-to-end latency and throughput: POST /v1/reports -> record on the force's topic.

Runs intake and routing as real processes on the local stack (fresh topic prefix and
databases), and in the same run measures the raw broker's produce -> consume latency at
the same rate as the baseline. Prints a table and writes bench/routing/RESULTS-routing.md.

    uv run python bench/routing/bench_e2e.py --rate 200 --seconds 20 --burst 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.runtime.provisioning import ensure_topics
from shopwatch.schemas.examples import example_report
from shopwatch.schemas.topics import force_topic, with_prefix

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script: `bench.common` from the repository root
from bench.common import (  # noqa: E402
    free_port,
    stack_env,
    start_service,
    stop_service,
    wait_ready,
)
from bench.common.http_client import HttpClientError, LeanClient  # noqa: E402
from bench.common.kafka import FirstArrivals as Arrivals  # noqa: E402
from bench.common.kafka import create_topic, delete_topics_with_prefix, raw_roundtrip  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS-routing.md")
FORCES = {"durham": "DH1 3LE", "cleveland": "TS1 2AA", "northumbria": "NE1 4ST"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def raw_baseline(bootstrap: str, prefix: str, rate: float, seconds: float) -> list[float]:
    topic = f"{prefix}bench.raw"
    await create_topic(bootstrap, topic, 3)
    payload = json.dumps(example_report().model_dump(mode="json")).encode()
    run = await raw_roundtrip(bootstrap, topic, payload, int(rate * seconds), rate)
    return run.latencies_ms


async def paced_reports(
    client: LeanClient,
    tenant: dict[str, Any],
    arrivals: Arrivals,
    rate: float,
    seconds: float,
) -> tuple[list[float], list[float], int, int]:
    body = example_report().model_dump(mode="json")
    stores = list(tenant["stores"].values())
    sent: dict[str, float] = {}
    http_ms: list[float] = []
    failures: list[str] = []
    count = int(rate * seconds)
    start = time.perf_counter()

    async def one(i: int) -> None:
        report = {
            **body,
            "store_id": stores[i % len(stores)],
            "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        }
        t0 = time.perf_counter()
        try:
            response = await client.post("/v1/reports", content=json.dumps(report).encode())
        except HttpClientError as exc:  # an overloaded intake drops connections
            failures.append(type(exc).__name__)
            return
        http_ms.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 202:
            failures.append(str(response.status_code))
            return
        sent[response.json()["report_id"]] = t0

    tasks = []
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    await arrivals.wait_for(set(sent), timeout_s=60)
    e2e = [(arrivals.seen[r] - t) * 1000 for r, t in sent.items() if r in arrivals.seen]
    if len(e2e) < len(sent):
        print(f"warning: {len(sent) - len(e2e)} cases did not arrive within 60 s")
    if failures:
        print(f"warning: {len(failures)} of {count} requests failed: {sorted(set(failures))}")
    return e2e, http_ms, len(failures), len(sent) - len(e2e)


async def burst(
    client: LeanClient, tenant: dict[str, Any], arrivals: Arrivals, total: int
) -> float:
    body = example_report().model_dump(mode="json")
    stores = list(tenant["stores"].values())
    ids: set[str] = set()
    start = time.perf_counter()
    for offset in range(0, total, 500):
        items = [
            {
                "report": {
                    **body,
                    "store_id": stores[i % len(stores)],
                    "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                }
            }
            for i in range(offset, min(total, offset + 500))
        ]
        response = await client.post("/v1/reports/batch", json.dumps({"items": items}).encode())
        if response.status_code != 207:
            raise SystemExit(f"batch refused with {response.status_code}: {response.content!r}")
        ids |= {r["report_id"] for r in response.json()["results"] if r["report_id"]}
    await arrivals.wait_for(ids, timeout_s=300)
    elapsed = time.perf_counter() - start
    arrived = len(ids & arrivals.seen.keys())
    return arrived / elapsed


async def make_tenant(mongo_url: str, db: str) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    admin = IntakeAdmin(MongoTenants(client[db]))
    retailer, key = await admin.add_retailer("Bench Retail")
    stores = {}
    for force, postcode in FORCES.items():
        store = await admin.add_store(
            retailer.retailer_id,
            name=f"Bench {force}",
            address_lines=["1 Street"],
            town="T",
            postcode=postcode,
        )
        stores[force] = store.store_id
    await client.close()
    return {"headers": {"Authorization": f"Bearer {key.api_key}"}, "stores": stores}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    env = stack_env()  # the stack's endpoints even when stack.env was not sourced
    bootstrap = env["SHOPWATCH_KAFKA_BOOTSTRAP"]
    prefix = f"bench{secrets.token_hex(3)}."
    env["SHOPWATCH_TOPIC_PREFIX"] = prefix
    print(f"creating topics under {prefix} ...")
    await ensure_topics(bootstrap, prefix=prefix)
    logs = ROOT / ".cache" / "local" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    intake_db, routing_db = f"bench_intake_{prefix[5:-1]}", f"bench_routing_{prefix[5:-1]}"
    intake_port, routing_port = free_port(), free_port()
    quiet = {"SHOPWATCH_LOG_LEVEL": "WARNING"}
    intake_env = {
        **env,
        **quiet,
        "SHOPWATCH_SERVICE_PORT": str(intake_port),
        "SHOPWATCH_MONGO_DATABASE": intake_db,
        "SHOPWATCH_RATE_LIMIT_PER_SECOND": "100000",
        "SHOPWATCH_RATE_LIMIT_BURST": "100000",
    }
    routing_env = {
        **env,
        **quiet,
        "SHOPWATCH_SERVICE_PORT": str(routing_port),
        "SHOPWATCH_MONGO_DATABASE": routing_db,
    }
    intake_log, routing_log = logs / "bench-intake.log", logs / "bench-routing.log"
    processes = [
        start_service("shopwatch.intake", intake_env, intake_log),
        start_service("shopwatch.routing", routing_env, routing_log),
    ]
    arrivals = Arrivals(bootstrap, [with_prefix(force_topic(f), prefix) for f in FORCES])
    try:
        for port, process, log in zip(
            (intake_port, routing_port), processes, (intake_log, routing_log), strict=True
        ):
            await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", process, log)
        tenant = await make_tenant(env["SHOPWATCH_MONGO_URL"], intake_db)
        await arrivals.start()
        print(f"baseline: raw produce -> consume at {args.rate}/s for {args.seconds}s ...")
        raw = await raw_baseline(bootstrap, prefix, args.rate, args.seconds)
        # Not httpx: its CPU per request is taken from the services being measured.
        headers = {**tenant["headers"], "Content-Type": "application/json"}
        async with LeanClient(f"http://127.0.0.1:{intake_port}", headers, 64) as client:
            print("warm-up ...")
            await paced_reports(client, tenant, arrivals, min(args.rate, 50), 2)
            print(
                f"system: POST /v1/reports -> force topic at {args.rate}/s for {args.seconds}s ..."
            )
            e2e, http_ms, failed, late = await paced_reports(
                client, tenant, arrivals, args.rate, args.seconds
            )
            print(f"sustained: {args.burst} reports in batches of 500, as fast as possible ...")
            routed_per_s = await burst(client, tenant, arrivals, args.burst)
    finally:
        await arrivals.stop()
        for process in processes:
            stop_service(process)
        # Left behind, every run's ~380 partitions add up until the broker's heap is gone.
        await delete_topics_with_prefix(bootstrap, prefix)
    return {
        "rate": args.rate,
        "seconds": args.seconds,
        "raw_p50": percentile(raw, 0.5),
        "raw_p99": percentile(raw, 0.99),
        "raw_n": len(raw),
        "e2e_p50": percentile(e2e, 0.5),
        "e2e_p99": percentile(e2e, 0.99),
        "e2e_n": len(e2e),
        "failed": failed,
        "late": late,
        "http_p50": percentile(http_ms, 0.5),
        "http_p99": percentile(http_ms, 0.99),
        "routed_per_s": routed_per_s,
        "burst": args.burst,
        "mean_e2e": statistics.fmean(e2e),
    }


def report(result: dict[str, Any], command: str) -> str:
    added = result["e2e_p99"] - result["raw_p99"]
    lines = [
        f"## End-to-end routing latency ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
        "local stack (single Kafka broker, FerretDB on SQLite), intake and routing as processes.",
        "",
        "| measure | p50 ms | p99 ms | n |",
        "| --- | ---: | ---: | ---: |",
        f"| raw broker produce -> consume (baseline) at {result['rate']}/s | {result['raw_p50']:.1f} | {result['raw_p99']:.1f} | {result['raw_n']} |",
        f"| POST /v1/reports -> force topic at {result['rate']}/s | {result['e2e_p50']:.1f} | {result['e2e_p99']:.1f} | {result['e2e_n']} |",
        f"| POST /v1/reports response time | {result['http_p50']:.1f} | {result['http_p99']:.1f} | |",
        "",
        f"Requests that failed (connection dropped or not 202): {result['failed']}; accepted "
        f"but not on a force topic within 60 s: {result['late']}.  ",
        f"Routing path adds **{added:.1f} ms at p99** over the raw broker (target: under 20 ms). "
        f"Ratio e2e/raw at p99: {result['e2e_p99'] / max(result['raw_p99'], 0.001):.1f}x.  ",
        f"Sustained: {result['burst']} reports submitted in batches of 500 were routed at "
        f"**{result['routed_per_s']:.0f} reports/s** (submission to arrival on the force topics).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--burst", type=int, default=2000)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    command = "uv run python bench/routing/bench_e2e.py " + " ".join(sys.argv[1:])
    text = report(result, command)
    print(text)
    RESULTS.write_text("# Routing benchmark\n\n" + text)


if __name__ == "__main__":
    main()
