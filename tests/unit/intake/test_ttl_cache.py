"""The brief memory of keys and stores: expiry, the bound, and off at zero."""

from __future__ import annotations

import pytest

from shopwatch.intake.ttl_cache import TtlCache
from tests.unit.intake.fake_clock import FakeClock


def test_a_value_lives_exactly_its_time_to_live() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(1.0, clock=clock)
    cache.put("k", 7)
    clock.now += 0.999
    assert cache.get("k") == 7
    clock.now += 0.001
    assert cache.get("k") is None
    assert len(cache) == 0, "an expired entry is dropped when seen"


def test_a_put_renews_the_entry() -> None:
    clock = FakeClock()
    cache: TtlCache[str, int] = TtlCache(1.0, clock=clock)
    cache.put("k", 1)
    clock.now += 0.8
    cache.put("k", 2)
    clock.now += 0.8
    assert cache.get("k") == 2


def test_beyond_the_bound_the_oldest_entry_goes() -> None:
    cache: TtlCache[int, int] = TtlCache(60.0, max_entries=3, clock=FakeClock())
    for n in range(5):
        cache.put(n, n * 10)
    assert len(cache) == 3
    assert [cache.get(n) for n in range(5)] == [None, None, 20, 30, 40]


def test_zero_remembers_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0.0)
    cache.put("k", 1)
    assert cache.get("k") is None
    assert len(cache) == 0


@pytest.mark.parametrize(("ttl_s", "max_entries"), [(-1.0, 10), (1.0, 0)])
def test_nonsense_settings_are_refused(ttl_s: float, max_entries: int) -> None:
    with pytest.raises(ValueError):
        TtlCache(ttl_s, max_entries=max_entries)
