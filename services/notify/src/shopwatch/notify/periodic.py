"""Background loops of the service: the sweeper and the daily digest.

Each loop finishes the round it is in before it stops (a send cut in half would leave
a pending row to be resent, i.e. a possible duplicate), with a bound on the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from shopwatch.notify.service import NotifyService

log = logging.getLogger(__name__)


class Every:
    """Runs `work` shortly after start and then every `interval_s`, until stopped."""

    def __init__(
        self,
        name: str,
        interval_s: float,
        work: Callable[[], Awaitable[object]],
        *,
        first_delay_s: float = 1.0,
    ) -> None:
        self.name = name
        self.interval_s = interval_s
        self.work = work
        # Start-up hooks run before the broker starts; a moment's wait lets the first
        # round publish dead letters if it has to.
        self.first_delay_s = first_delay_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"notify-{self.name}")

    async def stop(self, grace_s: float = 30.0) -> None:
        if self._task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace_s)
        except TimeoutError:
            log.warning("%s did not finish within %.0fs; cancelling it", self.name, grace_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=self.first_delay_s)
        while not self._stopping.is_set():
            try:
                await self.work()
            except Exception:
                # A database blip must not end the loop; the next round tries again.
                log.exception("%s round failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_s)


def previous_day(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=1)


def sweeper(service: NotifyService, interval_s: float) -> Every:
    return Every("sweeper", interval_s, service.sweep)


def digester(service: NotifyService, interval_s: float) -> Every:
    async def send_complete_days() -> None:
        # Only days that are over: a summary of "yesterday" cannot miss a late item of
        # that day (and one that still arrives late goes into the next summary).
        await service.send_digests(previous_day(service.clock()).date())

    return Every("digest", interval_s, send_complete_days)
