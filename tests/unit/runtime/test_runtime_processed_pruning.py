"""The pruner of processed-event records: keeps pruning on its interval, survives failures."""

import asyncio
from datetime import timedelta

import pytest

from shopwatch.runtime.metrics import PROCESSED_EVENTS_PRUNE_ERRORS, PROCESSED_EVENTS_PRUNED
from shopwatch.runtime.processed_pruning import ProcessedEventsPruner
from shopwatch.runtime.settings import RuntimeSettings
from shopwatch.schemas.topics import all_topics


class Records:
    """Answers prunes from a script: a number deleted, or an exception raised."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.asked: list[timedelta] = []

    async def prune(self, older_than: timedelta) -> int:
        self.asked.append(older_than)
        answer = self.answers.pop(0) if self.answers else 0
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_a_failed_prune_is_counted_and_the_next_one_still_runs() -> None:
    records = Records(3, ConnectionError("database down"), 2)
    pruner = ProcessedEventsPruner(records, keep=timedelta(days=31), interval_s=0.01)
    pruned_before = PROCESSED_EVENTS_PRUNED._value.get()
    errors_before = PROCESSED_EVENTS_PRUNE_ERRORS._value.get()

    pruner.start()
    for _ in range(500):
        if len(records.asked) >= 4:
            break
        await asyncio.sleep(0.01)
    await pruner.stop()

    assert len(records.asked) >= 4, "the pruner stopped pruning after a failure"
    assert set(records.asked) == {timedelta(days=31)}
    assert PROCESSED_EVENTS_PRUNED._value.get() - pruned_before == 5
    assert PROCESSED_EVENTS_PRUNE_ERRORS._value.get() - errors_before == 1


async def test_prune_once_says_how_many_or_none_on_failure() -> None:
    pruner = ProcessedEventsPruner(
        Records(7, RuntimeError("boom")), keep=timedelta(hours=1), interval_s=60
    )
    assert await pruner.prune_once() == 7
    assert await pruner.prune_once() is None


async def test_the_first_prune_waits_one_interval_and_stop_ends_the_loop() -> None:
    records = Records()
    pruner = ProcessedEventsPruner(records, keep=timedelta(days=1), interval_s=30)
    pruner.start()
    await asyncio.sleep(0.05)
    await pruner.stop()
    assert records.asked == []
    await pruner.stop()  # stopping twice is harmless


@pytest.mark.parametrize(("keep", "interval"), [(timedelta(0), 1.0), (timedelta(days=1), 0.0)])
def test_nonsense_periods_are_refused(keep: timedelta, interval: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        ProcessedEventsPruner(Records(), keep=keep, interval_s=interval)


def test_records_are_kept_a_day_longer_than_any_topic_can_redeliver() -> None:
    longest = max(t.retention for t in all_topics())
    keep = timedelta(days=RuntimeSettings().processed_events_keep_days)
    assert keep == longest + timedelta(days=1)
