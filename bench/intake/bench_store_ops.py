"""What one accepted report costs the local stack's database, operation by operation.

Intake's batch path is one `insert_many` per request; the outbox relay then clears the
published documents (`$pullAll` of the entries it sent), since 2026-11-29 evening with one
`bulk_write` per relay batch of up to 100, before that with one `update_one` each. This
measures these on the stack's FerretDB with documents the size of intake's (a report of ~2.5 KB plus an
outbox entry of ~2.5 KB), next to each other in the same run, so the ratio says which one
bounds the accepted -> published rate, whatever the machine's speed.

    uv run python -m bench.intake.bench_store_ops [--docs 2000] [--kib 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from bench.common import machine_info, machine_line, markdown_table, stack_env, update_section
from deploy.local import process
from shopwatch.runtime.settings import RuntimeSettings

RESULTS = Path(__file__).resolve().parent / "RESULTS-intake.md"
INSERT_BATCH = 500
# What the relay clears per command: its batch of published documents.
CLEAR_BATCH: int = RuntimeSettings.model_fields["outbox_batch_size"].default

Document = dict[str, Any]
Clear = Callable[[AsyncCollection[Document], list[Document]], Awaitable[None]]


def documents(count: int, kib: float) -> list[Document]:
    half = "x" * int(kib * 512)
    return [
        {
            "_id": f"rep_{secrets.token_hex(8)}",
            "report": half,
            "outbox": [{"event_id": secrets.token_hex(16), "value": half}],
        }
        for _ in range(count)
    ]


@dataclass(frozen=True)
class Rate:
    operation: str
    per_second: float
    # The database process's CPU per document: what bounds the rate once it is saturated.
    # None when the database is not a local process we can see (another host, no pid file).
    db_cpu_ms: float | None


def database_cpu_seconds() -> float | None:
    pid = process.read_pid("ferretdb")
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # utime and stime are the 14th and 15th fields; 11th and 12th after "pid (comm) state".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(name: str, count: int, work: Awaitable[None]) -> Rate:
    cpu_before = database_cpu_seconds()
    started = time.perf_counter()
    await work
    seconds = time.perf_counter() - started
    cpu_after = database_cpu_seconds()
    cpu_ms = None
    if cpu_before is not None and cpu_after is not None:
        cpu_ms = (cpu_after - cpu_before) * 1000 / count
    return Rate(name, count / seconds, cpu_ms)


async def insert_all(collection: AsyncCollection[Document], docs: list[Document]) -> None:
    for start in range(0, len(docs), INSERT_BATCH):
        await collection.insert_many(docs[start : start + INSERT_BATCH])


async def clear_all(
    collection: AsyncCollection[Document], docs: list[Document], concurrency: int
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def clear(doc: Document) -> None:
        async with gate:
            await collection.update_one(
                {"_id": doc["_id"]}, {"$pullAll": {"outbox": doc["outbox"]}}
            )

    await asyncio.gather(*(clear(d) for d in docs))


async def clear_in_bulk(collection: AsyncCollection[Document], docs: list[Document]) -> None:
    for start in range(0, len(docs), CLEAR_BATCH):
        await collection.bulk_write(
            [
                UpdateOne({"_id": d["_id"]}, {"$pullAll": {"outbox": d["outbox"]}})
                for d in docs[start : start + CLEAR_BATCH]
            ],
            ordered=False,
        )


async def measure(mongo_url: str, count: int, kib: float) -> list[Rate]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    database = f"bench_store_ops_{secrets.token_hex(3)}"
    rates: list[Rate] = []
    try:
        clears: list[tuple[str, Clear]] = [
            ("clear by update_one, 1 at a time", lambda c, d: clear_all(c, d, 1)),
            ("clear by update_one, 8 at a time", lambda c, d: clear_all(c, d, 8)),
            (f"clear by bulk_write, {CLEAR_BATCH} per call", clear_in_bulk),
        ]
        for number, (name, clear) in enumerate(clears):
            collection = client[database][f"reports_{number}"]
            docs = documents(count, kib)
            print(f"insert_many of {count} ...", flush=True)
            insert = f"insert_many, {INSERT_BATCH} per call"
            rates.append(await timed(insert, count, insert_all(collection, docs)))
            print(f"{name}: {count} ...", flush=True)
            rates.append(await timed(name, count, clear(collection, docs)))
            left = await collection.count_documents({"outbox.0": {"$exists": True}})
            if left:
                raise SystemExit(f"{left} documents kept their outbox entry: the clear failed")
    finally:
        await client.drop_database(database)
        await client.close()
    return rates


def render(rates: list[Rate], info: dict[str, Any], command: str) -> str:
    baseline = rates[0].per_second
    rows = [
        [
            rate.operation,
            f"{rate.per_second:,.0f}",
            f"{rate.per_second / baseline:.3f}",
            "n/a" if rate.db_cpu_ms is None else f"{rate.db_cpu_ms:.2f}",
        ]
        for rate in rates
    ]
    return "\n\n".join(
        [
            f"## The database's share: one document inserted vs one cleared "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            f"Command: `{command}`",
            machine_line(info),
            markdown_table(
                ["operation", "documents/s", "x first insert_many", "FerretDB CPU ms/document"],
                rows,
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="documents per measurement")
    parser.add_argument("--kib", type=float, default=5.0, help="document size, KiB")
    parser.add_argument("--no-write", action="store_true", help="do not update the results")
    args = parser.parse_args()
    if not 1 <= args.docs <= 100_000 or not 0.1 <= args.kib <= 1024:
        parser.error("--docs must be 1..100000 and --kib 0.1..1024")
    mongo_url = stack_env().get("SHOPWATCH_MONGO_URL")
    if not mongo_url:
        sys.exit("no SHOPWATCH_MONGO_URL: start the stack first (make up, or deploy.local up)")
    info = machine_info()
    rates = asyncio.run(measure(mongo_url, args.docs, args.kib))
    command = "uv run python -m bench.intake.bench_store_ops " + shlex.join(sys.argv[1:])
    text = render(rates, info, command.strip())
    print(text)
    if not args.no_write:
        update_section(RESULTS, "store-ops", text, title="Intake benchmark")


if __name__ == "__main__":
    main()
