"""Matching's use case: link one case's offenders, persist, announce links and flags.

The matcher lives in memory (its blocking index is rebuilt from the stored profiles on
start) and is changed by one request at a time. Order of writes: the changed profiles
first, then the result with its events in one document. A crash between the two is
redelivered; the matcher then sees the offenders as already matched (a duplicate
decision) and the same links are announced, once, by the result document.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopwatch.matching import metrics
from shopwatch.matching.adapters.mongo import MongoMatching
from shopwatch.matching.contract import features_of, links_of, prolific_events
from shopwatch.matching.domain import Matcher
from shopwatch.matching.prolific import ProlificRule
from shopwatch.runtime.outbox import OutboxMessage
from shopwatch.runtime.retry import PoisonMessage
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import MatchingCompleted, MatchingRequested
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import MATCHING_COMPLETED, OFFENDERS_PROLIFIC_FLAGGED

log = logging.getLogger(__name__)
PRODUCER = "matching"


@dataclass
class MatchingService:
    store: MongoMatching
    topic: Callable[[str], str]
    announce: Callable[[str], None]
    rule: ProlificRule = field(default_factory=ProlificRule)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    matcher: Matcher = field(init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self.matcher = Matcher(prolific_rule=self.rule)

    async def load(self) -> None:
        started = time.perf_counter()
        profiles = await self.store.load_profiles()
        self.matcher = Matcher(profiles, prolific_rule=self.rule)
        log.info(
            "matcher rebuilt from %d profiles in %.1fs",
            len(profiles),
            time.perf_counter() - started,
        )

    async def on_matching_requested(self, event: Envelope[MatchingRequested]) -> None:
        request = event.payload
        try:
            features = features_of(request)
        except ValueError as exc:  # an absurd description: no retry will make it sensible
            raise PoisonMessage(f"offender description cannot be matched: {exc}") from exc
        async with self._lock:
            started = time.perf_counter()
            results = self.matcher.match(features)
            metrics.MATCHING_SECONDS.observe(time.perf_counter() - started)
            touched = {r.profile_id for r in results if r.profile_id}
            touched |= {c.profile_id for r in results for c in r.possible_links}
            profiles = {pid: p for pid in touched if (p := self.matcher.profile(pid)) is not None}
            changed = [profiles[r.profile_id] for r in results if r.profile_id in profiles]
            await self.store.save_profiles({p.profile_id: p for p in changed}.values())
        links = links_of(results, profiles, self.matcher.config)
        metrics.LINKS.inc(len(links))
        now = self.clock()
        flagged = [
            (f, profiles[f.profile_id])
            for r in results
            for f in r.flags
            if f.profile_id in profiles
        ]
        completed = MatchingCompleted(
            case_id=request.case_id,
            report_id=request.report_id,
            force=request.force,
            links=links,
            prolific_profile_ids=sorted({f.profile_id for f, _ in flagged})[:20],
            completed_at=now,
        )
        messages = [self._message(request.case_id, MATCHING_COMPLETED, completed)]
        for flag, profile in flagged:
            for event_out in prolific_events(flag, profile, self.rule, now):
                messages.append(
                    self._message(profile.profile_id, OFFENDERS_PROLIFIC_FLAGGED, event_out)
                )
        result_id = f"{request.case_id}:{event.event_id}"
        summary = {"case_id": request.case_id, "decisions": [r.decision for r in results]}
        if await self.store.record_result(result_id, summary, messages):
            self.announce(result_id)

    def _message(self, correlation_id: str, logical_topic: str, payload: Any) -> OutboxMessage:
        envelope = make_envelope(payload, producer=PRODUCER, correlation_id=correlation_id)
        return OutboxMessage(envelope, self.topic(logical_topic), key=payload.key())
