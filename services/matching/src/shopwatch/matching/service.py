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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopwatch.matching import metrics
from shopwatch.matching.adapters.mongo import MongoMatching
from shopwatch.matching.contract import decision_of, features_of, links_of, prolific_events
from shopwatch.matching.domain import Matcher, OffenderFeatures
from shopwatch.matching.profiles import Profile
from shopwatch.matching.prolific import ProlificRule
from shopwatch.runtime.outbox import OutboxMessage
from shopwatch.runtime.retry import PoisonMessage
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import MatchingCompleted, MatchingRequested, OffenderLinkDecided
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
        aliases = await self.store.load_aliases()
        decisions = await self.store.load_decisions()
        locations = await self.store.load_store_locations()
        loop = asyncio.get_running_loop()
        batches = self.store.profile_batches()
        loaded = 0

        async def next_batch() -> list[Profile] | None:
            return await anext(batches, None)

        def stream() -> Iterator[Profile]:
            # Runs in a worker thread; the batches are read on the event loop.
            nonlocal loaded
            while batch := asyncio.run_coroutine_threadsafe(next_batch(), loop).result():
                for profile in batch:
                    # Merged away (its deletion may not have happened): skip it.
                    if profile.profile_id not in aliases:
                        loaded += 1
                        yield profile

        # Streamed, not listed: the matcher packs profiles as they come (a million stored
        # profiles as objects would need ~2.7 GiB on top of the packed table).
        self.matcher = await asyncio.to_thread(
            Matcher,
            stream(),
            prolific_rule=self.rule,
            overrides=decisions,
            aliases=aliases,
            store_locations=locations,
        )
        log.info(
            "matcher rebuilt from %d profiles, %d link decisions and %d store locations in %.1fs",
            loaded,
            len(decisions),
            len(locations),
            time.perf_counter() - started,
        )

    async def on_matching_requested(self, event: Envelope[MatchingRequested]) -> None:
        request = event.payload
        try:
            features = features_of(request)
        except ValueError as exc:  # an absurd description: no retry will make it sensible
            raise PoisonMessage(f"offender description cannot be matched: {exc}") from exc
        async with self._lock:
            await self._remember_store(features[0] if features else None)
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

    async def on_link_decided(self, event: Envelope[OffenderLinkDecided]) -> None:
        """A force confirmed or rejected a link: remember it, then merge or split."""
        decided = event.payload
        try:
            decision, features = decision_of(decided)
        except ValueError as exc:  # a description no real report has; it would never apply
            raise PoisonMessage(f"link decision cannot be applied: {exc}") from exc
        async with self._lock:
            # Remembered first: after a crash the redelivered event applies it again.
            if not await self.store.save_decision(decision, decided.decided_at.isoformat()):
                log.info("an older link decision on a pair decided since; ignored")
                return
            outcome = self.matcher.decide(decision, features)
            await self.store.save_profiles(outcome.changed)
            await self.store.merge_profiles(outcome.merged)
        metrics.LINK_DECISIONS.labels(decided.decision.value).inc()
        if not outcome.flags:
            return
        now = self.clock()
        messages = [
            self._message(profile.profile_id, OFFENDERS_PROLIFIC_FLAGGED, event_out)
            for flag in outcome.flags
            if (profile := self.matcher.profile(flag.profile_id)) is not None
            for event_out in prolific_events(flag, profile, self.rule, now)
        ]
        result_id = f"link:{event.event_id}"
        summary = {"case_id": decided.case_id, "decision": decided.decision.value}
        if await self.store.record_result(result_id, summary, messages):
            self.announce(result_id)

    async def _remember_store(self, features: OffenderFeatures | None) -> None:
        # Saved before matching: the matcher learns it too, and after a restart it must
        # still know where the stores of its profiles are.
        if features is None or features.store_location is None:
            return
        if self.matcher.geography.location(features.store_id) != features.store_location:
            await self.store.save_store_location(features.store_id, features.store_location)

    def _message(self, correlation_id: str, logical_topic: str, payload: Any) -> OutboxMessage:
        envelope = make_envelope(payload, producer=PRODUCER, correlation_id=correlation_id)
        return OutboxMessage(envelope, self.topic(logical_topic), key=payload.key())
