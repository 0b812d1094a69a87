"""A small, bounded cache whose entries expire: for records read on every request
(API keys, stores) that change rarely and may be seen a moment late.

Why: on FerretDB each lookup is a round trip of about a millisecond of database work
plus as much again of driver CPU, and a single report needed two of them before its
own write. How late a change may be seen is the time to live; a revoked key stops
working within it (intake's `tenant_cache_s`, one second by default).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Entries live `ttl_s` seconds; beyond `max_entries` the oldest is dropped.

    `ttl_s == 0` turns it off (nothing is remembered). Misses are not remembered, so a
    key or store made a moment ago is found at once.
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must be >= 0")
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if self._clock() >= expires:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        if self.ttl_s == 0:
            return
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self.ttl_s, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
