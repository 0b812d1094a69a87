"""Evidence upload and verification through the service, against the raw baselines.

In one run, on the local stack (fresh databases, topic prefix and bucket):

- baselines: ``hashlib.sha256`` over the file, a direct ``minio`` ``fput_object`` of it,
  and a raw S3 GET of that object (minio ``stream``);
- the service path: intake and evidence run as real processes; the ``shopwatch upload``
  client code (``Uploader``) opens a session, sends the parts in parallel straight to
  S3 through presigned URLs and completes; then the evidence service streams the master
  back, hashes it, sniffs it, probes it with FFmpeg and makes its thumbnail strip;
- the evidence process's peak RSS (``VmHWM``) after a small file and after each large
  one, to show it stays flat whatever the size.

The file is a real H.264 MP4 grown to the size asked for by a trailing ``free`` box of
random bytes (players skip it), so verification does the full work of a real upload.

    set -a; . .cache/local/stack.env; set +a
    uv run python bench/evidence/bench_upload.py --size-mib 1024

Writes bench/evidence/RESULTS-evidence.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from minio import Minio
from minio.error import S3Error
from pymongo import AsyncMongoClient

from shopwatch.cli.upload import Uploader
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.runtime.provisioning import ensure_topics
from shopwatch.schemas.examples import example_report

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.common.kafka import delete_topics_with_prefix  # noqa: E402
from tests import media_fixtures as mf  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS-evidence.md")
MiB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_file(path: Path, size: int) -> Path:
    mf.h264_mp4(path, seconds=2.0)
    padding = size - path.stat().st_size - 8
    if padding < 0:
        raise SystemExit("size too small for the sample video")
    with path.open("ab") as fh:
        fh.write((8 + padding).to_bytes(4, "big") + b"free")
        left = padding
        while left:
            chunk = os.urandom(min(left, 8 * MiB))
            fh.write(chunk)
            left -= len(chunk)
    return path


def vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6 if seconds > 0 else float("inf")


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def raw_get(s3: Minio, bucket: str, key: str) -> int:
    response = s3.get_object(bucket, key)
    total = 0
    try:
        for chunk in response.stream(8 * MiB):
            total += len(chunk)
    finally:
        response.close()
        response.release_conn()
    return total


class TimedUploader(Uploader):
    """The CLI's uploader, noting when the parts start and when completion is accepted."""

    marks: dict[str, float]

    def _send_parts(self, path: Path, session: dict[str, Any], result: Any) -> None:
        self.marks["parts_start"] = time.perf_counter()
        super()._send_parts(path, session, result)

    def _complete(self, path: Path, session: dict[str, Any], result: Any) -> None:
        super()._complete(path, session, result)
        self.marks["completed"] = time.perf_counter()

    def _wait(self, evidence_id: str, timeout: float) -> dict[str, Any]:
        answer = super()._wait(evidence_id, timeout)
        self.marks["verified"] = time.perf_counter()
        return answer


def start(module: str, env: dict[str, str], port: int, logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"bench-{module}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", f"shopwatch.{module}"],
        env={**env, "SHOPWATCH_SERVICE_PORT": str(port), "SHOPWATCH_LOG_LEVEL": "WARNING"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_ready(url: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            with suppress(httpx.HTTPError):
                if (await client.get(url, timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise SystemExit(f"{url} not ready after {timeout_s}s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    for needed in ("SHOPWATCH_KAFKA_BOOTSTRAP", "SHOPWATCH_MONGO_URL", "SHOPWATCH_S3_ENDPOINT"):
        if needed not in env:
            raise SystemExit(f"{needed} is not set: `set -a; . .cache/local/stack.env; set +a`")
    token = secrets.token_hex(3)
    prefix = f"bench{token}."
    bucket = f"bench-evidence-{token}"
    intake_db, evidence_db = f"bench_intake_{token}", f"bench_evidence_{token}"
    await ensure_topics(env["SHOPWATCH_KAFKA_BOOTSTRAP"], prefix=prefix, partitions_override=1)
    intake_port, evidence_port = free_port(), free_port()
    common = {**env, "SHOPWATCH_TOPIC_PREFIX": prefix}
    s3 = Minio(
        env["SHOPWATCH_S3_ENDPOINT"],
        access_key=env["SHOPWATCH_S3_ACCESS_KEY"],
        secret_key=env["SHOPWATCH_S3_SECRET_KEY"],
        secure=env.get("SHOPWATCH_S3_SECURE", "false") == "true",
        region="us-east-1",
    )
    work = Path(tempfile.mkdtemp(prefix="bench-evidence-", dir=args.work_dir))
    intake = start("intake", {**common, "SHOPWATCH_MONGO_DATABASE": intake_db}, intake_port, work)
    evidence = start(
        "evidence",
        {
            **common,
            "SHOPWATCH_MONGO_DATABASE": evidence_db,
            "SHOPWATCH_EVIDENCE_BUCKET": bucket,
            "SHOPWATCH_INTAKE_URL": f"http://127.0.0.1:{intake_port}",
            "SHOPWATCH_VERIFY_POLL_INTERVAL_S": "0.2",
            "SHOPWATCH_SWEEP_INTERVAL_S": "0",
        },
        evidence_port,
        work,
    )
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        env["SHOPWATCH_MONGO_URL"], tz_aware=True
    )
    results: dict[str, Any] = {"runs": [], "load_before": os.getloadavg()[0]}
    try:
        await wait_ready(f"http://127.0.0.1:{intake_port}/health/ready")
        await wait_ready(f"http://127.0.0.1:{evidence_port}/health/ready")
        results["rss_idle_kb"] = vm_rss_kb(evidence.pid)
        admin = IntakeAdmin(MongoTenants(mongo[intake_db]))
        retailer, key = await admin.add_retailer("Bench Retail")
        store = await admin.add_store(
            retailer.retailer_id,
            name="Bench store",
            address_lines=["1 High Street"],
            town="Durham",
            postcode="DH1 3LE",
        )
        body = example_report().model_dump(mode="json")
        body["store_id"] = store.store_id
        body["occurred_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        headers = {"Authorization": f"Bearer {key.api_key}"}
        async with httpx.AsyncClient() as http:
            posted = await http.post(
                f"http://127.0.0.1:{intake_port}/v1/reports", json=body, headers=headers
            )
        report_id = posted.json()["report_id"]
        for _ in range(200):
            if await mongo[evidence_db]["reports"].find_one(
                {"_id": report_id, "retailer_id": retailer.retailer_id}
            ):
                break
            await asyncio.sleep(0.1)

        def service_upload(path: Path) -> tuple[dict[str, float], Any]:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{evidence_port}", headers=headers, timeout=120
            ) as client:
                uploader = TimedUploader(client, parallel=args.parallel)
                uploader.marks = {"start": time.perf_counter()}
                try:
                    result = uploader.upload(report_id, path, wait_for=1800)
                finally:
                    uploader.close()
                return uploader.marks, result

        # Warm up (and the "small file" memory point): 32 MiB.
        small = make_file(work / "small.mp4", 32 * MiB)
        await asyncio.to_thread(service_upload, small)
        results["rss_hwm_after_small_kb"] = vm_hwm_kb(evidence.pid)
        small.unlink()

        for number in range(args.repeat):
            size = args.size_mib * MiB
            path = await asyncio.to_thread(make_file, work / f"big-{number}.mp4", size)
            run_result: dict[str, Any] = {"size": size}
            # Baselines first, on the same file and page cache state.
            run_result["hashlib_s"], local_sha = await asyncio.to_thread(timed, sha256_file, path)
            if not s3.bucket_exists(bucket):
                s3.make_bucket(bucket)
            run_result["fput_s"], _ = await asyncio.to_thread(
                timed, s3.fput_object, bucket, f"baseline/{number}", str(path)
            )
            run_result["get_s"], got = await asyncio.to_thread(
                timed, raw_get, s3, bucket, f"baseline/{number}"
            )
            assert got == size
            s3.remove_object(bucket, f"baseline/{number}")
            marks, uploaded = await asyncio.to_thread(service_upload, path)
            # The machine is shared: take the baselines again right after the service
            # path and compare with the mean of both, so a burst of other work during
            # one measurement does not decide the ratio.
            hashlib_after, _ = await asyncio.to_thread(timed, sha256_file, path)
            fput_after, _ = await asyncio.to_thread(
                timed, s3.fput_object, bucket, f"baseline/{number}", str(path)
            )
            get_after, _ = await asyncio.to_thread(timed, raw_get, s3, bucket, f"baseline/{number}")
            s3.remove_object(bucket, f"baseline/{number}")
            run_result["hashlib_s"] = (run_result["hashlib_s"] + hashlib_after) / 2
            run_result["fput_s"] = (run_result["fput_s"] + fput_after) / 2
            run_result["get_s"] = (run_result["get_s"] + get_after) / 2
            assert uploaded.status == "stored", uploaded
            assert uploaded.sha256 == local_sha
            doc = await mongo[evidence_db]["evidence"].find_one({"_id": uploaded.evidence_id})
            assert doc is not None
            run_result["client_hash_s"] = marks["parts_start"] - marks["start"]
            run_result["upload_s"] = marks["completed"] - marks["parts_start"]
            run_result["complete_to_stored_s"] = marks["verified"] - marks["completed"]
            run_result["server_hash_s"] = doc["verification"]["hash_seconds"]
            run_result["server_verify_s"] = doc["verification"]["seconds"]
            run_result["server_media_s"] = doc["verification"]["media_seconds"]
            run_result["media_worker_rss_kb"] = doc["verification"]["media_worker_max_rss_kb"]
            run_result["rss_hwm_kb"] = vm_hwm_kb(evidence.pid)
            run_result["parts"] = doc["part_count"]
            results["runs"].append(run_result)
            path.unlink()
            print(run_result, flush=True)
    finally:
        for proc in (evidence, intake):
            proc.terminate()
        for proc in (evidence, intake):
            with suppress(subprocess.TimeoutExpired):
                proc.wait(20)
        with suppress(Exception):
            await mongo.drop_database(intake_db)
            await mongo.drop_database(evidence_db)
        await mongo.close()
        # Each run's topics are its own; left behind, runs add up to thousands of
        # partitions and the local broker runs out of heap.
        with suppress(Exception):
            await delete_topics_with_prefix(env["SHOPWATCH_KAFKA_BOOTSTRAP"], prefix)
        with suppress(S3Error):
            for found in s3.list_objects(bucket, recursive=True):
                with suppress(S3Error):
                    s3.disable_object_legal_hold(bucket, found.object_name or "")
                s3.remove_object(bucket, found.object_name or "")
            s3.remove_bucket(bucket)
        await asyncio.to_thread(shutil.rmtree, work, True)
    return results


def report(args: argparse.Namespace, results: dict[str, Any]) -> str:
    lines = [
        "# Evidence benchmark: upload and verification through the service",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, the local stack"
        " (versitygw S3 on loopback, FerretDB, Kafka), shared with other work (load"
        f" average {results['load_before']:.1f} before, {os.getloadavg()[0]:.1f} after).",
        "",
        "```",
        "set -a; . .cache/local/stack.env; set +a",
        f"uv run python bench/evidence/bench_upload.py --size-mib {args.size_mib}"
        f" --repeat {args.repeat} --parallel {args.parallel}",
        "```",
        "",
        "The file: a real H.264 MP4 grown with a trailing `free` box of random bytes.",
        "Baselines on the same file in the same run, each taken just before and just after"
        " the service path and averaged (the machine is shared): `hashlib.sha256` over it"
        " (page cache warm), `minio` `fput_object` (3 threads, its default), and a raw"
        " `get_object` stream of that object. Service path: `shopwatch upload`'s `Uploader` (parts in"
        f" parallel, {args.parallel} at a time, 16 MiB, presigned URLs straight to S3), then"
        " the evidence process streams the master back, hashes, sniffs, probes (FFmpeg in a"
        " child process, over a presigned URL) and makes a thumbnail strip.",
        "",
        "| run | size | hashlib | fput_object | raw GET | service upload | upload / fput |"
        " server hash | verify / min(GET, hashlib) | complete -> stored | evidence peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(results["runs"], start=1):
        size = r["size"]
        hashlib_mbps, fput, get = (
            mbps(size, r["hashlib_s"]),
            mbps(size, r["fput_s"]),
            mbps(size, r["get_s"]),
        )
        upload, server_hash = mbps(size, r["upload_s"]), mbps(size, r["server_hash_s"])
        lines.append(
            f"| {n} | {size / MiB:.0f} MiB | {hashlib_mbps:.0f} MB/s | {fput:.0f} MB/s |"
            f" {get:.0f} MB/s | {upload:.0f} MB/s ({r['upload_s']:.1f} s) |"
            f" **{upload / fput:.0%}** | {server_hash:.0f} MB/s ({r['server_hash_s']:.1f} s) |"
            f" **{server_hash / min(get, hashlib_mbps):.0%}** |"
            f" {r['complete_to_stored_s']:.1f} s | {r['rss_hwm_kb'] / 1024:.0f} MB |"
        )
    runs = results["runs"]
    if len(runs) > 1:
        upload_ratios = [r["fput_s"] / r["upload_s"] for r in runs]
        verify_ratios = [
            max(r["get_s"], r["hashlib_s"]) / r["server_hash_s"] if r["server_hash_s"] else 0
            for r in runs
        ]
        lines += [
            f"| median of {len(runs)} | | | | | | **{statistics.median(upload_ratios):.0%}** |"
            f" | **{statistics.median(verify_ratios):.0%}** | | |",
        ]
    lines += [
        "",
        "Targets (issue 5): the upload at least 80 % of the direct put; server-side"
        " verification at least 80 % of the slower of raw GET and hashlib; the evidence"
        " process's peak memory flat and under 200 MB whatever the file size. Single runs"
        " swing with the load other work puts on this 2-CPU machine (FerretDB, test suites);"
        " the median is the figure to read. The upload beats `fput_object` because it sends"
        " 4 parts of 16 MiB at a time where minio's default sends 3.",
    ]
    lines += [
        "",
        f"Evidence process RSS: {results['rss_idle_kb'] / 1024:.0f} MB idle after start-up;"
        f" peak (VmHWM) {results['rss_hwm_after_small_kb'] / 1024:.0f} MB after a 32 MiB"
        " upload, and the peak column above after each large one (the verifier holds"
        " 4 x 8 MiB buffers whatever the size). The FFmpeg child peaked at"
        f" {max(r['media_worker_rss_kb'] for r in results['runs']) / 1024:.0f} MB"
        " (its own process, limited by RLIMIT_AS).",
        "",
        "Other timings per run (seconds): "
        + "; ".join(
            f"run {n}: client SHA-256 {r['client_hash_s']:.1f}, server verification total"
            f" {r['server_verify_s']:.1f} (hash {r['server_hash_s']:.1f}, media"
            f" {r['server_media_s']:.1f}), {r['parts']} parts"
            for n, r in enumerate(results["runs"], start=1)
        ),
        "",
        "<details><summary>raw figures (seconds, bytes, KiB)</summary>",
        "",
        "```json",
        json.dumps(results, indent=1),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--work-dir", default=None, help="where the test file is written")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    text = report(args, results)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
