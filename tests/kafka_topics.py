"""Deleting the topics a test run made (under its own prefix), in batches."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]

BATCH = 100


async def delete_topics_under(bootstrap: str, prefix: str) -> int:
    """Delete every topic whose name starts with `prefix`; returns how many."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(prefix)]
        for start in range(0, len(ours), BATCH):
            await admin.delete_topics(ours[start : start + BATCH])
        return len(ours)
    finally:
        await admin.close()
