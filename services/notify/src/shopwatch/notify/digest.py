"""`python -m shopwatch.notify.digest [--day YYYY-MM-DD]`: send the daily summaries now.

The service sends them by itself (a loop every `SHOPWATCH_DIGEST_INTERVAL_S`); this is
for cron-style deployments and operators. It summarises the items dated up to `--day`
(default: yesterday, UTC) and is idempotent per retailer, day and recipient, so running
it twice, or alongside the service, sends nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, timedelta

from shopwatch.notify.app import build_service, ensure_indexes
from shopwatch.notify.config import NotifySettings
from shopwatch.runtime.db import mongo_client, service_database


def parse_day(value: str) -> date:
    today = datetime.now(UTC).date()
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not YYYY-MM-DD, today or yesterday"
        ) from exc


async def run(day: date, settings: NotifySettings) -> tuple[int, int]:
    client = mongo_client(settings)
    try:
        notify = build_service(settings, service_database(client, settings.database_name), None)
        await ensure_indexes(notify)
        sent = await notify.send_digests(day)
        # Summaries deferred by an SMTP hiccup are pending; one sweep retries those due.
        resent = await notify.sweep()
        return sent, resent
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shopwatch.notify.digest", description=__doc__)
    parser.add_argument("--day", type=parse_day, default="yesterday", help="YYYY-MM-DD")
    args = parser.parse_args(argv)
    settings = NotifySettings()
    try:
        sent, resent = asyncio.run(run(args.day, settings))
    except Exception as exc:
        print(f"error: digest for {args.day} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"digest up to {args.day}: {sent} summaries sent, {resent} pending emails resent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
