"""The background loops: they run, survive a failing round, and finish a round on stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from shopwatch.notify.periodic import Every, previous_day


async def test_runs_repeatedly_and_survives_a_failing_round() -> None:
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("database blip")

    loop = Every("test", 0.01, work, first_delay_s=0)
    await loop.start()
    for _ in range(200):
        if len(rounds) >= 4:
            break
        await asyncio.sleep(0.01)
    await loop.stop()
    assert len(rounds) >= 4  # the failing second round did not end the loop


async def test_stop_waits_for_the_round_in_progress() -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow_send() -> None:
        started.set()
        await asyncio.sleep(0.2)  # an SMTP conversation that must not be cut in half
        finished.set()

    loop = Every("test", 60, slow_send, first_delay_s=0)
    await loop.start()
    await asyncio.wait_for(started.wait(), 2)
    await loop.stop()
    assert finished.is_set()


async def test_stop_cancels_a_round_that_outlives_the_grace() -> None:
    async def stuck() -> None:
        await asyncio.sleep(60)

    loop = Every("test", 60, stuck, first_delay_s=0)
    await loop.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(loop.stop(grace_s=0.05), 2)


def test_the_digest_covers_complete_days() -> None:
    assert previous_day(datetime(2026, 11, 3, 0, 5, tzinfo=UTC)).date() == date(2026, 11, 2)
