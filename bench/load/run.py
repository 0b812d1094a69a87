"""Load test of the whole system, with the raw broker as the baseline in the same run.

Starts all five services as processes on the local stack (a topic prefix, databases and
an evidence bucket of their own, all removed afterwards), registers N chains with M
stores each spread across K forces, and sends a realistic mix of reports (bench/load/mix.py)
at a target rate or as fast as a number of clients can, uploading CCTV for a share of them.
Measures reports accepted (202) and routed (first arrival on a force topic) per second,
the end-to-end latency submission -> force topic, each service's peak RSS and what that
means for the day's national volume; and, on the same broker in the same run, a raw
aiokafka producer -> consumer: its throughput and its latency at the same rate.

    uv run python -m bench.load --chains 4 --stores 6 --forces 4 --rate 10 --duration 60
    uv run python -m bench.load --max --clients 8 --duration 60 --evidence-share 0.05

Progress goes to stderr; the figures replace the "load" section of bench/RESULTS.md
(`--no-write` to skip). It stops by itself: after --duration of sending and at most
--drain seconds waiting for the last cases, or at --deadline whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine_info, stack_env, update_section
from bench.common.kafka import (
    FirstArrivals,
    RawRun,
    create_topic,
    delete_topics_with_prefix,
    raw_roundtrip,
)
from bench.common.s3 import remove_bucket, s3_client
from bench.common.services import ServiceSet
from bench.load.drive import LoadDriver, Tally
from bench.load.mix import ReportMix, plan_stores
from bench.load.report import render
from bench.load.world import provision
from shopwatch.runtime.provisioning import ensure_topics, planned_topics
from shopwatch.schemas.topics import force_topic, with_prefix

RESULTS = ROOT / "bench" / "RESULTS.md"


@dataclass
class Outcome:
    args: argparse.Namespace
    info: dict[str, Any]
    tally: Tally = field(default_factory=Tally)
    submit_seconds: float = 0.0
    routed: dict[str, float] = field(default_factory=dict)  # report id -> first arrival
    evidence_routed: dict[str, float] = field(default_factory=dict)
    force_records: int = 0
    raw_max: RawRun = field(default_factory=RawRun)
    raw_paced: RawRun = field(default_factory=RawRun)
    raw_paced_rate: float = 0.0
    raw_payload_bytes: int = 0
    partitions: int = 0
    peak_rss: dict[str, int | None] = field(default_factory=dict)
    died: list[str] = field(default_factory=list)
    stores: int = 0
    forces: list[str] = field(default_factory=list)


def say(text: str) -> None:
    print(f"[load {datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


async def progress(outcome: Outcome, driver: LoadDriver, arrivals: FirstArrivals) -> None:
    started = time.perf_counter()
    while True:
        await asyncio.sleep(5)
        t = driver.tally
        routed = sum(1 for r in t.submitted if r in arrivals.seen)
        errors = sum(t.errors.values())
        say(
            f"{time.perf_counter() - started:5.0f}s sent {t.sent} accepted {t.accepted}"
            f" errors {errors} routed {routed} backlog {t.accepted - routed}"
            f" evidence {t.evidence_uploaded}/{len(t.evidence_wanted)}"
        )


async def run(args: argparse.Namespace) -> Outcome:
    env = stack_env()
    for needed in ("SHOPWATCH_KAFKA_BOOTSTRAP", "SHOPWATCH_MONGO_URL", "SHOPWATCH_S3_ENDPOINT"):
        if needed not in env:
            raise SystemExit(f"{needed} is not set: start the stack (`make stack-up`)")
    bootstrap = env["SHOPWATCH_KAFKA_BOOTSTRAP"]
    if not bootstrap.startswith("127.0.0.1:"):
        raise SystemExit(f"the load test only targets 127.0.0.1, not {bootstrap}")
    outcome = Outcome(args=args, info=machine_info())
    token = secrets.token_hex(3)
    prefix, bucket = f"bl{token}.", f"bench-load-{token}"
    plans = plan_stores(args.chains, args.stores, args.forces)
    outcome.stores, outcome.forces = len(plans), sorted({p.force for p in plans})
    say(f"topics under {prefix} ...")
    await ensure_topics(bootstrap, prefix=prefix)
    outcome.partitions = next(
        n for _, spec, n in planned_topics(prefix) if spec.name == force_topic(outcome.forces[0])
    )
    services = ServiceSet(
        env={**env, "SHOPWATCH_TOPIC_PREFIX": prefix},
        token=f"load_{token}",
        logs=ROOT / ".cache" / "local" / "logs",
        extra={
            # Chains are not rate-limited here: the limit is not what is measured.
            "intake": {
                "SHOPWATCH_RATE_LIMIT_PER_SECOND": "1000000",
                "SHOPWATCH_RATE_LIMIT_BURST": "1000000",
            },
            "evidence": {"SHOPWATCH_EVIDENCE_BUCKET": bucket, "SHOPWATCH_SWEEP_INTERVAL_S": "0"},
        },
    )
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    arrivals: FirstArrivals | None = None
    driver: LoadDriver | None = None
    try:
        say("starting intake, evidence, routing, matching, notify ...")
        services.start()
        await asyncio.to_thread(services.wait_ready)
        chains = await provision(env["SHOPWATCH_MONGO_URL"], services.database("intake"), plans)
        say(f"{len(chains)} chains, {len(plans)} stores in {len(outcome.forces)} forces")
        clip = None
        if args.evidence_share > 0:
            from tests.media_fixtures import h264_mp4

            clip = h264_mp4(work / "cctv.mp4", seconds=2.0)
        mix = ReportMix(seed=args.seed, evidence_share=args.evidence_share)

        # The raw broker's best, before the services add their load to the machine.
        raw_topic = f"{prefix}bench.raw"
        await create_topic(bootstrap, raw_topic, outcome.partitions)
        sample, _ = ReportMix(seed=args.seed + 1).report(chains[0].stores[0])
        payload = json.dumps(sample).encode()
        outcome.raw_payload_bytes = len(payload)
        say(f"baseline: raw produce -> consume, {args.raw_count} records, as fast as possible")
        outcome.raw_max = await raw_roundtrip(bootstrap, raw_topic, payload, args.raw_count, None)

        def on_record(case_id: str, record: Any, now: float) -> None:
            if case_id not in outcome.evidence_routed and b'"evidence":[{' in record.value:
                outcome.evidence_routed[case_id] = now

        topics = [with_prefix(force_topic(f), prefix) for f in outcome.forces]
        arrivals = FirstArrivals(bootstrap, topics, on_record=on_record)
        await arrivals.start()
        driver = LoadDriver(
            services.url("intake"), services.url("evidence"), chains, mix, clip, args.seed
        )
        say("warm-up: 10 reports ...")
        await driver.at_rate(5, 2)
        await arrivals.wait_for(set(driver.tally.submitted), 60)
        driver.reset()  # the warm-up is not counted

        mode = "as fast as possible" if args.max else f"at {args.rate:g}/s"
        say(f"system: reports {mode} for {args.duration:g} s ...")
        ticker = asyncio.create_task(progress(outcome, driver, arrivals))
        stop_uploads = time.perf_counter() + args.duration + args.drain
        uploaders = [
            asyncio.create_task(driver.upload_worker(arrivals.seen, stop_uploads))
            for _ in range(2 if clip else 0)
        ]
        started = time.perf_counter()
        if args.max:
            await driver.as_fast_as_possible(args.clients, args.duration)
        else:
            await driver.at_rate(args.rate, args.duration)
        outcome.submit_seconds = time.perf_counter() - started
        say(f"sent for {outcome.submit_seconds:.1f} s; waiting up to {args.drain:g} s ...")
        await arrivals.wait_for(set(driver.tally.submitted), args.drain)
        wanted = set(driver.tally.evidence_wanted)
        while (
            clip
            and time.perf_counter() < stop_uploads
            and not wanted <= outcome.evidence_routed.keys()
        ):
            await asyncio.sleep(0.5)
        for task in [ticker, *uploaders]:
            task.cancel()
        await asyncio.gather(ticker, *uploaders, return_exceptions=True)
        outcome.tally = driver.tally
        outcome.routed = {r: arrivals.seen[r] for r in driver.tally.submitted if r in arrivals.seen}
        outcome.force_records = arrivals.records
        outcome.peak_rss = services.peak_rss()
        outcome.died = services.dead()

        rate = (
            args.rate if not args.max else max(1.0, outcome.tally.accepted / outcome.submit_seconds)
        )
        seconds = min(args.duration, 20.0)
        outcome.raw_paced_rate = rate
        say(f"baseline: raw produce -> consume at {rate:.1f}/s for {seconds:g} s ...")
        outcome.raw_paced = await raw_roundtrip(
            bootstrap, raw_topic, payload, max(1, int(rate * seconds)), rate
        )
    finally:
        say("cleaning up ...")
        if arrivals is not None:
            await arrivals.stop()
        if driver is not None:
            await driver.close()
        await asyncio.to_thread(services.stop)
        await asyncio.to_thread(services.drop_databases, env["SHOPWATCH_MONGO_URL"])
        await delete_topics_with_prefix(bootstrap, prefix)
        await asyncio.to_thread(remove_bucket, s3_client(env), bucket)
        await asyncio.to_thread(shutil.rmtree, work, True)
    return outcome


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--chains", type=int, default=4, help="retail chains (N)")
    parser.add_argument("--stores", type=int, default=6, help="stores per chain (M)")
    parser.add_argument("--forces", type=int, default=4, help="forces the stores are in (K)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, default=10.0, help="reports per second (open loop)")
    pace.add_argument("--max", action="store_true", help="as fast as --clients can send")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients with --max")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument(
        "--drain", type=float, default=60.0, help="most seconds to wait for the last cases"
    )
    parser.add_argument(
        "--evidence-share", type=float, default=0.05, help="share of reports with CCTV uploaded"
    )
    parser.add_argument("--raw-count", type=int, default=5000, help="raw baseline records")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--deadline", type=float, default=None, help="stop whatever happens (default: computed)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args(argv)
    for name in ("chains", "stores", "forces", "clients", "raw_count"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.rate <= 0 or args.duration <= 0 or args.drain < 0:
        parser.error("--rate and --duration must be positive, --drain not negative")
    if not 0 <= args.evidence_share <= 1:
        parser.error("--evidence-share must be between 0 and 1")
    if args.deadline is None:
        args.deadline = args.duration + 2 * args.drain + 300  # + start-up, baselines, clean-up
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwinds through run()'s clean-up


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = "uv run python -m bench.load " + shlex.join(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)

    async def bounded() -> Outcome:
        return await asyncio.wait_for(run(args), timeout=args.deadline)

    try:
        outcome = asyncio.run(bounded())
    except TimeoutError:
        raise SystemExit(f"the load test did not finish within {args.deadline:.0f} s") from None
    text = render(outcome, command.strip())
    print(text)
    if not args.no_write:
        # One section per mode, so a paced run and a flat-out run both stay in the file.
        section = "load-max" if args.max else "load-rate"
        update_section(RESULTS, section, text, title="Benchmark results")
        say(f"written to {RESULTS.relative_to(ROOT)}")
