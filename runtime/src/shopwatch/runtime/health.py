"""Readiness: named checks that must all pass for the service to take work.

Two kinds:
- probes, run on every `/health/ready` request with a short timeout (Kafka answers,
  MongoDB answers, a service's own dependency);
- conditions, set by the code that knows (a consumer that stopped itself because its
  dead-letter rate tripped says so here and stays "not ready" until restarted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Probe = Callable[[], Awaitable[None]]  # raises (or times out) when unhealthy


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


class Health:
    def __init__(self, *, timeout_s: float = 2.0) -> None:
        self.timeout_s = timeout_s
        self._probes: dict[str, Probe] = {}
        self._conditions: dict[str, str] = {}

    def add_probe(self, name: str, probe: Probe) -> None:
        if name in self._probes:
            raise ValueError(f"a readiness probe named {name!r} exists already")
        self._probes[name] = probe

    def set_not_ready(self, name: str, reason: str) -> None:
        self._conditions[name] = reason

    def clear(self, name: str) -> None:
        self._conditions.pop(name, None)

    async def check(self) -> list[CheckResult]:
        """Run every probe concurrently (so one slow dependency costs one timeout)."""
        names = list(self._probes)
        outcomes = await asyncio.gather(*(self._run(self._probes[n]) for n in names))
        results = [
            CheckResult(name, detail == "ok", detail)
            for name, detail in zip(names, outcomes, strict=True)
        ]
        results.extend(CheckResult(n, False, r) for n, r in sorted(self._conditions.items()))
        return results

    async def _run(self, probe: Probe) -> str:
        try:
            await asyncio.wait_for(probe(), timeout=self.timeout_s)
        except TimeoutError:
            return f"timed out after {self.timeout_s:g}s"
        except Exception as exc:
            # The type and a short message are enough to act on; the full error is in
            # the logs of the code that failed.
            return f"{type(exc).__name__}: {str(exc)[:200]}"
        return "ok"
