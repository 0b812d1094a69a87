"""What one accepted report costs the local stack's database, operation by operation.

Intake's batch path is one `insert_many` per request; the outbox relay then clears each
published document with one `update_one` (`$pullAll` of the entries it sent). This measures
both on the stack's FerretDB with documents the size of intake's (a report of ~2.5 KB plus an
outbox entry of ~2.5 KB), next to each other in the same run, so the ratio says which one
bounds the accepted -> published rate, whatever the machine's speed.

    uv run python -m bench.intake.bench_store_ops [--docs 2000] [--kib 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shlex
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from bench.common import machine_info, machine_line, markdown_table, stack_env, update_section

RESULTS = Path(__file__).resolve().parent / "RESULTS-intake.md"
INSERT_BATCH = 500

Document = dict[str, Any]


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


async def timed(work: Awaitable[None]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


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


async def measure(mongo_url: str, count: int, kib: float) -> list[tuple[str, float]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url)
    database = f"bench_store_ops_{secrets.token_hex(3)}"
    rates: list[tuple[str, float]] = []
    try:
        for concurrency in (1, 8):
            collection = client[database][f"reports_{concurrency}"]
            docs = documents(count, kib)
            print(f"insert_many of {count} ...", flush=True)
            seconds = await timed(insert_all(collection, docs))
            rates.append((f"insert_many, {INSERT_BATCH} per call", count / seconds))
            print(f"clear {count}, {concurrency} at a time ...", flush=True)
            seconds = await timed(clear_all(collection, docs, concurrency))
            left = await collection.count_documents({"outbox.0": {"$exists": True}})
            if left:
                raise SystemExit(f"{left} documents kept their outbox entry: the clear failed")
            rates.append((f"clear by update_one, {concurrency} at a time", count / seconds))
    finally:
        await client.drop_database(database)
        await client.close()
    return rates


def render(rates: list[tuple[str, float]], info: dict[str, Any], command: str) -> str:
    baseline = rates[0][1]
    rows = [[name, f"{rate:,.0f}", f"{rate / baseline:.3f}"] for name, rate in rates]
    return "\n\n".join(
        [
            f"## The database's share: one document inserted vs one cleared "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            f"Command: `{command}`",
            machine_line(info),
            markdown_table(["operation", "documents/s", "x first insert_many"], rows),
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
