"""Deletes records of processed events once Kafka can no longer deliver those events again.

Each consumed event leaves one record in `processed_events` (see `processed.py`); without
pruning the collection grows by every event for ever. A record is only needed while the
event can come back, that is within the topic's retention, so the pruner deletes records
older than `processed_events_keep_days` (by default the longest topic retention plus a
day) every `processed_events_prune_interval_s`.

A failed prune (the database down) is logged and tried again at the next interval: the
records wait, nothing else stops. MongoDB could expire them with a TTL index; FerretDB
1.24 does not implement `expireAfterSeconds`, so this runs on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Protocol

from shopwatch.runtime.metrics import PROCESSED_EVENTS_PRUNE_ERRORS, PROCESSED_EVENTS_PRUNED

log = logging.getLogger(__name__)


class Prunable(Protocol):
    async def prune(self, older_than: timedelta) -> int: ...


class ProcessedEventsPruner:
    def __init__(self, records: Prunable, *, keep: timedelta, interval_s: float) -> None:
        if keep <= timedelta(0) or interval_s <= 0:
            raise ValueError("keep and interval_s must be positive")
        self._records = records
        self._keep = keep
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def prune_once(self) -> int | None:
        """Delete what is older than `keep`; the number deleted, None if it failed."""
        try:
            deleted = await self._records.prune(self._keep)
        except Exception:
            PROCESSED_EVENTS_PRUNE_ERRORS.inc()
            log.exception("pruning processed-event records failed; trying again later")
            return None
        PROCESSED_EVENTS_PRUNED.inc(deleted)
        if deleted:
            log.info(
                "pruned %d processed-event record(s) older than %.1f day(s)",
                deleted,
                self._keep.total_seconds() / 86_400,
            )
        return deleted

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="processed-events-pruner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        # The first prune waits one interval: a restarting service has enough to do.
        while True:
            await asyncio.sleep(self._interval_s)
            await self.prune_once()
