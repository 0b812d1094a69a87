"""`shopwatch submit FILE` against intake running as its own process, on the real stack.

- 10,000 reports from JSON Lines, a few of them bad on purpose at known lines: exit code 1,
  exact counts, a rejects file naming each bad line and its field, a progress bar on stderr;
- a second file's run killed part-way and run again: everything valid ends up accepted
  exactly once (the re-run skips what was accepted, through the idempotency keys);
- a small CSV file with dotted column names;
- no key, or a file that is not there: one line on stderr, non-zero exit, no traceback.

Cost on the no-Docker stack (2 cores, FerretDB 1.24 on SQLite built with deploy/local's
`_id` index fix), measured 2026-11-29: the 10,000-report file is submitted in about 31 s
(~320 reports/s) and the module passes in about 2 minutes. SHOPWATCH_IT_BULK_REPORTS
lowers the size for a quick local check. (Before the fix every `_id` lookup scanned, and the
10,000-report run did not finish inside the 420 s bound.)
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient

from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.schemas.examples import example_report

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

# The size; SHOPWATCH_IT_BULK_REPORTS lowers it for a quick local check.
BULK = int(os.environ.get("SHOPWATCH_IT_BULK_REPORTS", "10000"))
RESUMED = min(1_000, max(300, BULK * 3 // 10))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SUMMARY = re.compile(
    r"(?P<total>\d+) reports: (?P<accepted>\d+) accepted, "
    r"(?P<already>\d+) already accepted, (?P<rejected>\d+) rejected"
)


@dataclass(frozen=True)
class Intake:
    url: str
    database: str
    log: Path


@dataclass(frozen=True)
class Retailer:
    retailer_id: str
    api_key: str
    store_ids: list[str]


@dataclass(frozen=True)
class Tenants:
    chain: Retailer  # the 10,000-report file
    resumer: Retailer  # the interrupted file
    csv_shop: Retailer
    crowd: Retailer  # many clients at once
    other: Retailer  # owns a store the others must not report on


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, int]:
        match = SUMMARY.search(plain(self.stdout))
        assert match, f"no summary on stdout: {self.stdout!r} (stderr: {self.stderr[-2000:]})"
        return {k: int(v) for k, v in match.groupdict().items()}


def plain(text: str) -> str:
    """Without the terminal's escape sequences (colours, cursor moves)."""
    return ANSI.sub("", text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def intake(
    registry_topics: str,
    mongo_db_name: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Intake]:
    """`python -m shopwatch.intake`, as deployed, on a free port and its own database."""
    port, database = free_port(), mongo_db_name("intake")
    log = tmp_path_factory.mktemp("intake") / "intake.log"
    env = {
        **os.environ,  # the stack's SHOPWATCH_* endpoints (tests/conftest.py sets them)
        "SHOPWATCH_TOPIC_PREFIX": registry_topics,
        "SHOPWATCH_MONGO_DATABASE": database,
        "SHOPWATCH_SERVICE_PORT": str(port),
        "SHOPWATCH_SERVICE_HOST": "127.0.0.1",
        # One client sending 10,000 reports as fast as it can; the limit has its own test.
        "SHOPWATCH_RATE_LIMIT_PER_SECOND": "100000",
        "SHOPWATCH_RATE_LIMIT_BURST": "100000",
        "SHOPWATCH_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shopwatch.intake"], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log)
        yield Intake(url, database, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        settle(database)


def settle(database: str) -> None:
    """Wait until FerretDB has run the writes a stopped intake left queued, before the
    database is dropped: a drop racing them re-created the database, and FerretDB 1.24
    (SQLite, WAL) once died with SIGBUS in `_walFindFrame` on such a drop."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        os.environ["SHOPWATCH_MONGO_URL"], serverSelectionTimeoutMS=3000
    )
    try:
        last, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 30
        while time.monotonic() < deadline and time.monotonic() - quiet_since < 2:
            count = client[database]["reports"].estimated_document_count()
            if count != last:
                last, quiet_since = count, time.monotonic()
            time.sleep(0.5)
    finally:
        client.close()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"intake exited with {process.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=3).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"intake was not ready within 60 s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
async def tenants(stack_env: Any, intake: Intake) -> AsyncIterator[Tenants]:
    """Registered with the admin use cases on intake's database, as `shopwatch admin` does."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url, tz_aware=True)
    admin = IntakeAdmin(MongoTenants(client[intake.database]))

    async def retailer(name: str, stores: int) -> Retailer:
        found, key = await admin.add_retailer(name)
        ids = []
        for n in range(stores):
            store = await admin.add_store(
                found.retailer_id,
                name=f"{name} {n}",
                address_lines=[f"{n + 1} Market Place"],
                town="Durham",
                postcode="DH1 3NJ",
            )
            ids.append(store.store_id)
        return Retailer(found.retailer_id, key.api_key, ids)

    try:
        yield Tenants(
            chain=await retailer("Northmart", 3),
            resumer=await retailer("Resume Foods", 1),
            csv_shop=await retailer("Corner Shop", 1),
            crowd=await retailer("Crowd Mart", 1),
            other=await retailer("Elsewhere Ltd", 1),
        )
    finally:
        await client.close()


class Stored:
    """What intake's database holds, read with a client of the test's own."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self.reports = client[database]["reports"]

    async def count(self, retailer: Retailer, **extra: Any) -> int:
        return await self.reports.count_documents({"retailer_id": retailer.retailer_id, **extra})

    async def references(self, retailer: Retailer) -> list[str]:
        refs = await self.reports.distinct("reference", {"retailer_id": retailer.retailer_id})
        return [str(r) for r in refs]


@pytest.fixture(scope="module")
async def stored(stack_env: Any, intake: Intake) -> AsyncIterator[Stored]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url, tz_aware=True)
    try:
        yield Stored(client, intake.database)
    finally:
        await client.close()


def shopwatch(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> Run:
    done = subprocess.run(
        [*shopwatch_command(), *args],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def shopwatch_command() -> list[str]:
    """The installed `shopwatch` script next to this Python, else the module."""
    script = Path(sys.executable).parent / "shopwatch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "shopwatch.cli"]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_API_KEY"}
    # Rich animates its progress bar only on a terminal (on a pipe it prints the last frame);
    # this makes the pipe count as one, so stderr carries the frames a user would see.
    env.update(TTY_COMPATIBLE="1", COLUMNS="120")
    return env


def report(store_id: str, n: int, *, with_ref: bool) -> dict[str, Any]:
    body = example_report().model_dump(mode="json")
    body["store_id"] = store_id
    body["occurred_at"] = (datetime.now(UTC) - timedelta(hours=1, minutes=n % 600)).isoformat()
    body["account"] = f"Incident {n}: {body['account']}"
    # Half carry the retailer's own reference (the CLI keys on it), half do not (the CLI
    # keys on a hash of the report): both must resume.
    body["retailer_incident_ref"] = f"INC-{n:06d}" if with_ref else None
    return body


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rejects_of(path: Path) -> dict[int, list[dict[str, Any]]]:
    rejects = path.with_suffix(path.suffix + ".rejects.jsonl")
    entries = [json.loads(line) for line in rejects.read_text().splitlines() if line.strip()]
    return {entry["line"]: entry["errors"] for entry in entries}


async def test_bulk_submit_of_10000_reports_counts_exactly_and_names_the_bad_lines(
    intake: Intake, tenants: Tenants, stored: Stored, tmp_path: Path
) -> None:
    stores = tenants.chain.store_ids
    lines = [
        json.dumps(report(stores[n % len(stores)], n, with_ref=n % 2 == 0)) for n in range(BULK)
    ]

    def spoil(line_no: int, change: Callable[[dict[str, Any]], None]) -> None:
        body = json.loads(lines[line_no - 1])
        change(body)
        lines[line_no - 1] = json.dumps(body)

    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    # Spread over the file, so they fall in different batches, first and last included.
    at = [17, BULK // 8, BULK // 2, BULK * 7 // 9, BULK * 8 // 9, BULK - 1]
    spoil(at[0], lambda b: b.update(offence_type="jaywalking"))
    spoil(at[1], lambda b: b.update(occurred_at=future))
    lines[at[2] - 1] = '{"store_id": "st_x", "occurred_at": '  # cut short: not JSON
    spoil(at[3], lambda b: b["items"][0].update(unit_value_pence=-5))
    spoil(at[4], lambda b: b.pop("reporter"))
    spoil(at[5], lambda b: b.update(store_id=tenants.other.store_ids[0]))
    expected_fields: dict[int, list[Any] | None] = {
        at[0]: ["report", "offence_type"],
        at[1]: ["report", "occurred_at"],
        at[2]: None,  # not JSON: no field to name
        at[3]: ["report", "items", 0, "unit_value_pence"],
        at[4]: ["report", "reporter"],
        at[5]: ["report", "store_id"],
    }
    path = write_jsonl(tmp_path / "reports.jsonl", lines)

    started = time.monotonic()
    run = shopwatch(
        "submit", str(path), "--api-url", intake.url, "--api-key", tenants.chain.api_key
    )
    elapsed = time.monotonic() - started
    print(f"{BULK} reports submitted in {elapsed:.1f}s ({BULK / elapsed:.0f} reports/s)")

    assert run.code == 1, run.stderr[-3000:]  # rejects present
    valid = BULK - len(expected_fields)
    summary = run.summary()
    # A batch whose answer was slow is sent again by the CLI; the server then reports its
    # reports as already accepted. Either way each valid report is stored exactly once.
    assert summary["total"] == BULK and summary["rejected"] == 6
    assert summary["accepted"] + summary["already"] == valid
    rejects = rejects_of(path)
    assert sorted(rejects) == sorted(expected_fields)
    for line_no, field in expected_fields.items():
        if field is None:
            assert "not valid JSON" in rejects[line_no][0]["msg"]
        else:
            assert [e["loc"] for e in rejects[line_no]] == [field], rejects[line_no]
    assert await stored.count(tenants.chain) == valid
    assert len(await stored.references(tenants.chain)) == valid
    # The progress bar was animated on stderr, up to the end; stdout kept only the summary.
    drawn = {int(n) for n in re.findall(rf"(\d+)/{BULK}", plain(run.stderr))}
    assert BULK in drawn and len(drawn) >= 3, sorted(drawn)
    assert "submitting" in plain(run.stderr) and "submitting" not in run.stdout
    assert "Traceback" not in run.stderr


async def test_an_interrupted_run_resumes_without_duplicates(
    intake: Intake, tenants: Tenants, stored: Stored, tmp_path: Path
) -> None:
    store = tenants.resumer.store_ids[0]
    lines = [json.dumps(report(store, n, with_ref=n % 2 == 1)) for n in range(RESUMED)]
    path = write_jsonl(tmp_path / "resume.jsonl", lines)
    # Tiny batches (150 requests), so the kill lands mid-file rather than after the last
    # batch: with the _id index in use, batches of 20 could all be stored between polls.
    args = ["submit", str(path), "--api-url", intake.url, "--api-key", tenants.resumer.api_key]
    args += ["--batch-size", "2"]
    first = await asyncio.create_subprocess_exec(
        *shopwatch_command(),
        *args,
        env=cli_env(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert first.stderr is not None
    # Kill on the CLI's own progress bar: polling the database is too slow once the
    # collection holds the 10,000-report run (a count by retailer reads every document).
    drawn = re.compile(rf"(\d+)/{RESUMED}")
    progress, shown = "", 0
    try:
        deadline = time.monotonic() + 120
        while shown < RESUMED // 3:
            assert time.monotonic() < deadline, "no progress within 120 s"
            chunk = await asyncio.wait_for(first.stderr.read(4096), timeout=120)
            assert chunk, "the run finished before it could be interrupted"
            progress = (progress + plain(chunk.decode(errors="replace")))[-4096:]
            shown = max([shown, *(int(n) for n in drawn.findall(progress))])
    finally:
        if first.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it may end on its own meanwhile
                first.send_signal(signal.SIGKILL)  # a crash, not a polite stop
        await first.wait()
    stored_before = await stored.count(tenants.resumer)
    assert RESUMED // 3 <= stored_before < RESUMED

    again = shopwatch(*args)

    assert again.code == 0, again.stderr[-3000:]
    summary = again.summary()
    # Whatever was stored before the kill (even a batch whose answer never reached the
    # CLI, and one the server was still writing when we counted) comes back as "already
    # accepted"; the rest is accepted now; nothing twice.
    assert summary["total"] == RESUMED and summary["rejected"] == 0
    assert summary["accepted"] + summary["already"] == RESUMED
    assert summary["already"] >= stored_before
    assert await stored.count(tenants.resumer) == RESUMED
    for n in (0, 1, RESUMED - 1):  # spot checks, both kinds of key
        assert (
            await stored.count(
                tenants.resumer, **{"report.account": json.loads(lines[n])["account"]}
            )
            == 1
        )


async def test_concurrent_reports_all_accepted_with_distinct_references(
    intake: Intake, tenants: Tenants, tmp_path: Path
) -> None:
    """Many clients at once: every report ends accepted with a reference of its own
    (FerretDB's findAndModify `$inc` handed out duplicates, and the day counter's upsert
    race answered 503). A 503 with Retry-After is allowed on the way, as FerretDB answers
    "database is locked" when writers pile up; the client retries with the same key."""
    store = tenants.crowd.store_ids[0]
    headers = {"Authorization": f"Bearer {tenants.crowd.api_key}"}

    async def file_one(http: httpx.AsyncClient, n: int) -> httpx.Response:
        key = {"Idempotency-Key": f"crowd-{n}"}
        for _ in range(5):
            answer = await http.post(
                "/v1/reports", json=report(store, 900_000 + n, with_ref=True), headers=key
            )
            if answer.status_code != 503:
                return answer
            await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        return answer

    async with httpx.AsyncClient(base_url=intake.url, headers=headers, timeout=120) as http:
        answers = await asyncio.gather(*(file_one(http, n) for n in range(60)))
    assert [a.status_code for a in answers] == [202] * 60, [a.text for a in answers][:3]
    references = [a.json()["reference"] for a in answers]
    assert len(set(references)) == 60, sorted(references)


async def test_csv_file_with_dotted_columns(
    intake: Intake, tenants: Tenants, stored: Stored, tmp_path: Path
) -> None:
    store = tenants.csv_shop.store_ids[0]
    when = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    columns = [
        "store_id",
        "retailer_incident_ref",
        "occurred_at",
        "offence_type",
        "account",
        "items.0.description",
        "items.0.quantity",
        "items.0.unit_value_pence",
        "flags.staff_injured",
        "offenders.0.sex",
        "offenders.0.age_min",
        "offenders.0.age_max",
        "reporter.name",
        "reporter.email",
    ]
    rows = [
        [
            store,
            "CS-1",
            when,
            "theft_from_shop",
            "Took razors.",
            "Razors",
            "3",
            "899",
            "false",
            "male",
            "20",
            "30",
            "Sam Patel",
            "sam@corner.example",
        ],
        [
            store,
            "CS-2",
            when,
            "theft_from_shop",
            "Took coffee.",
            "Coffee",
            "2",
            "450",
            "true",
            "female",
            "",
            "",
            "Sam Patel",
            "sam@corner.example",
        ],
        [
            store,
            "CS-3",
            when,
            "theft_from_shop",
            "Took meat.",
            "Beef",
            "many",
            "1250",
            "false",
            "",
            "",
            "",
            "Sam Patel",
            "sam@corner.example",
        ],
        [
            store,
            "CS-4",
            when,
            "theft_from_shop",
            "Took gin.",
            "Gin",
            "1",
            "2200",
            "false",
            "unknown",
            "40",
            "30",
            "Sam Patel",
            "sam@corner.example",
        ],
        [
            store,
            "CS-5",
            when,
            "theft_from_shop",
            "Took wine.",
            "Wine",
            "1",
            "900",
            "false",
            "",
            "",
            "",
            "Sam Patel",
            "sam@corner.example",
        ],
    ]
    path = tmp_path / "shop.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        writer.writerows(rows)

    run = shopwatch(
        "submit", str(path), "--api-url", intake.url, "--api-key", tenants.csv_shop.api_key
    )

    assert run.code == 1, run.stderr[-3000:]
    assert run.summary() == {"total": 5, "accepted": 3, "already": 0, "rejected": 2}
    rejects = rejects_of(path)  # rows counted like a spreadsheet: the header is row 1
    assert [e["loc"] for e in rejects[4]] == [["report", "items", 0, "quantity"]]
    assert [e["loc"] for e in rejects[5]] == [["report", "offenders", 0, "age_max"]]
    assert await stored.count(tenants.csv_shop) == 3
    # The cells became numbers and booleans on the way in.
    assert await stored.count(tenants.csv_shop, **{"report.flags.staff_injured": True}) == 1


def test_no_api_key_is_one_clear_line(tmp_path: Path, intake: Intake) -> None:
    path = write_jsonl(tmp_path / "one.jsonl", ["{}"])
    run = shopwatch("submit", str(path), "--api-url", intake.url)
    assert run.code != 0
    assert_one_line_error(run, "API key")


def test_a_missing_file_is_one_clear_line(tmp_path: Path, intake: Intake) -> None:
    run = shopwatch(
        "submit", str(tmp_path / "nope.jsonl"), "--api-url", intake.url, "--api-key", "sw_x"
    )
    assert run.code != 0
    assert_one_line_error(run, "nope.jsonl")


def test_a_directory_is_one_clear_line(tmp_path: Path, intake: Intake) -> None:
    run = shopwatch("submit", str(tmp_path), "--api-url", intake.url, "--api-key", "sw_x")
    assert run.code != 0
    assert_one_line_error(run, str(tmp_path))


def assert_one_line_error(run: Run, mentions: str) -> None:
    lines = [line for line in plain(run.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error:") and mentions in lines[0], lines[0]
    assert "Traceback" not in run.stderr and not run.stdout.strip()
