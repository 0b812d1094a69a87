"""Helpers the benchmarks share: the machine they ran on, percentiles, peak memory of a
process, free ports, services as subprocesses, and the results files.

Run a benchmark as a module from the repository root, so `bench.common` imports:

    uv run python -m bench.intake.bench_intake
"""

from __future__ import annotations

import math
import os
import platform
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[2]


def machine_info() -> dict[str, Any]:
    """What a reader needs to weigh the numbers: cores, memory, CPU, load when it started."""
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "memory_gib": None,
        "cpu_model": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"^MemTotal:\s+(\d+) kB", meminfo.read_text(), re.M)
        if match:
            info["memory_gib"] = round(int(match.group(1)) / 1024 / 1024, 1)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        if match:
            info["cpu_model"] = match.group(1).strip()
    return info


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"nproc {info['nproc']}, {info['memory_gib']} GiB RAM, {info['cpu_model']}, "
        f"Python {info['python']}, load average {info['load_avg_1m']:.2f} at start"
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_rss_bytes(pid: int) -> int | None:
    """The process's peak resident set size so far.

    Linux keeps it as VmHWM in /proc/<pid>/status; psutil has no portable "peak" (only
    Windows' peak_wset), so it is the fallback, giving the current RSS at best.
    """
    status = Path(f"/proc/{pid}/status")
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.M)
    except OSError:
        match = None
    if match:
        return int(match.group(1)) * 1024
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return None
    memory = psutil.Process(pid).memory_info()
    return int(getattr(memory, "peak_wset", memory.rss))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def stack_env() -> dict[str, str]:
    """The local stack's endpoints (`.cache/local/stack.env`), under the environment."""
    path = ROOT / ".cache" / "local" / "stack.env"
    values: dict[str, str] = {}
    if path.exists():
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return {**values, **{k: v for k, v in os.environ.items() if v}}


def start_service(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python -m <module>` with its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 90
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=3).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} was not ready within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def stop_service(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def settle_database(
    mongo_url: str, database: str, collection: str, quiet_s: float = 2.0, timeout_s: float = 60.0
) -> None:
    """Wait until `collection`'s document count has not changed for `quiet_s`.

    Call it after stopping a service and before dropping its database or starting the
    next measurement: FerretDB keeps running the writes a stopped client left queued,
    a drop racing them re-creates the database, and FerretDB 1.24 (SQLite, WAL) has died
    with SIGBUS in `_walFindFrame` on such a drop, leaving a file it cannot start with.
    """
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    try:
        last, quiet_since = -1, time.monotonic()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_s:
            count = document_count(client, database, collection)
            if count != last:
                last, quiet_since = count, time.monotonic()
            time.sleep(0.5)
    finally:
        client.close()


def document_count(client: MongoClient[dict[str, Any]], database: str, collection: str) -> int:
    """The collection's document count, cheaply on FerretDB too.

    FerretDB answers `collStats` from SQLite's row count (0.05 s at 10,000 documents of
    5 KB) but `count`, which `estimated_document_count` sends, by decoding every document
    (1.6 s, a core's worth of the database for as long). MongoDB answers both.
    """
    from pymongo.errors import OperationFailure

    try:
        return int(client[database].command("collStats", collection)["count"])
    except (OperationFailure, KeyError):
        return client[database][collection].estimated_document_count()


def update_section(path: Path, name: str, body: str, *, title: str) -> None:
    """Replace (or append) the section `name` of a results file, keeping the rest as is.

    Sections sit between `<!-- <name>:begin -->` and `<!-- <name>:end -->`, so prose
    written around them by hand survives re-runs.
    """
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"# {title}\n"
    if begin in text and end in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
