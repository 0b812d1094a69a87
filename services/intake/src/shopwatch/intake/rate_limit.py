"""Per-API-key token bucket, in process.

One bucket per key id; a burst up to `burst` requests, refilled at `rate_per_second`.
It lives in memory because intake runs one process per host here; several hosts
behind a balancer each enforce their share, which is the documented trade-off.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    rate_per_second: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    max_buckets: int = 100_000
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` tokens; return 0 when allowed, else the seconds to wait."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_buckets:
                # Bound memory: drop the stalest buckets (they would be full again anyway).
                for stale in sorted(self._buckets, key=lambda k: self._buckets[k].updated)[
                    : self.max_buckets // 10
                ]:
                    del self._buckets[stale]
            bucket = _Bucket(tokens=float(self.burst), updated=now)
            self._buckets[key] = bucket
        bucket.tokens = min(
            self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_second
        )
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate_per_second

    @staticmethod
    def retry_after_header(wait_seconds: float) -> str:
        return str(max(1, math.ceil(wait_seconds)))
