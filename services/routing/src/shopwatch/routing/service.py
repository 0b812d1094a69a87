"""Routing's use cases: one per consumed event. Load the case, decide (pure), save with
the announcing events in the same write, retry on a concurrent save."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shopwatch.routing import metrics
from shopwatch.routing.adapters.mongo_cases import ConcurrentUpdate, Document, MongoCases
from shopwatch.routing.case import (
    CaseState,
    Decision,
    add_evidence,
    apply_force_update,
    apply_matching,
    empty_case,
    mark_prolific,
    open_case,
)
from shopwatch.routing.force_choice import choose_force
from shopwatch.runtime.outbox import OutboxMessage
from shopwatch.runtime.retry import PoisonMessage, TransientError
from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import (
    CaseRouted,
    EvidenceStored,
    ForceUpdate,
    MatchingCompleted,
    ProlificOffenderFlagged,
    ReportSubmitted,
)
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import ForceTopicKind, force_topic

log = logging.getLogger(__name__)
PRODUCER = "routing"
MAX_CONFLICT_RETRIES = 10
# Changes of one case are made one at a time in this process (see `_apply`); cases share
# this many locks by hash, so the locks never grow with the number of cases.
CASE_LOCK_STRIPES = 256


class UpdateRefused(PoisonMessage):
    """A force update that must not be applied; it goes to the DLQ with this reason."""


@dataclass
class RoutingService:
    cases: MongoCases
    topic: Callable[[str], str]
    # Tells the outbox relay which case document to publish from, right after the write.
    # Wakes the outbox relay for a written case; a new case's document goes with it.
    announce: Callable[[str, Document | None], None]
    # Publishes an operator-visible copy of an unroutable report to the DLQ.
    report_unroutable: Callable[[Envelope[ReportSubmitted], str], Awaitable[None]]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _case_locks: list[asyncio.Lock] = field(
        default_factory=lambda: [asyncio.Lock() for _ in range(CASE_LOCK_STRIPES)], init=False
    )

    async def on_report_submitted(self, event: Envelope[ReportSubmitted]) -> None:
        submitted = event.payload
        choice = choose_force(submitted.store)
        if choice.force is None:
            # DLQ entry first: if we crash before saving, the redelivery repeats it
            # (a harmless duplicate in the DLQ); the other order could lose it.
            await self.report_unroutable(event, choice.explanation)
        decision = await self._apply(
            submitted.report_id, event, lambda s: open_case(s, submitted, self.clock())
        )
        if decision.state.status == CaseStatus.UNROUTABLE and decision.announcements:
            metrics.UNROUTABLE.inc()
            log.warning("report is unroutable: %s", decision.state.unroutable_reason)
        elif decision.state.force and decision.announcements:
            metrics.CASES_ROUTED.labels(decision.state.force).inc()
            delay = (self.clock() - submitted.submitted_at).total_seconds()
            metrics.SUBMISSION_TO_FORCE.observe(max(0.0, delay))

    async def on_evidence_stored(self, event: Envelope[EvidenceStored]) -> None:
        stored = event.payload
        await self._apply(stored.report_id, event, lambda s: add_evidence(s, stored, self.clock()))

    async def on_matching_completed(self, event: Envelope[MatchingCompleted]) -> None:
        completed = event.payload
        await self._apply(
            completed.case_id, event, lambda s: apply_matching(s, completed, self.clock())
        )

    async def on_prolific_flagged(self, event: Envelope[ProlificOffenderFlagged]) -> None:
        """Tell the force (on its own cases topic) and raise its linked cases' priority."""
        flagged = event.payload
        forward_id = f"prolific:{event.event_id}"
        topic = force_topic(flagged.force, ForceTopicKind.CASES)
        if await self.cases.forward(
            forward_id, [self._message(flagged.profile_id, topic, flagged)]
        ):
            self.announce(forward_id, None)
        own = [ref.case_id for ref in flagged.linked_cases if ref.force == flagged.force]
        for case_id in await self.cases.cases_of_force(flagged.force, own):
            await self._apply(case_id, event, lambda s: mark_prolific(s, flagged, self.clock()))

    async def on_force_update(self, event: Envelope[ForceUpdate], topic_force: str) -> None:
        update = event.payload
        await self._apply(
            update.case_id,
            event,
            lambda s: apply_force_update(s, update, topic_force, self.clock()),
        )
        metrics.UPDATES_APPLIED.labels(topic_force, str(update.kind)).inc()

    async def _apply(
        self,
        case_id: str,
        event: Envelope[Any],
        decide: Callable[[CaseState], Decision],
    ) -> Decision:
        # One change of a case at a time in this process. The save's version check keeps
        # two changes from building on one version, but each loser re-reads and retries:
        # 30 changes of one case at once exhausted MAX_CONFLICT_RETRIES
        # (tests/integration/routing/test_routing_concurrent_changes_it.py), and on a
        # FerretDB without deploy/local's fourth edit both saves could win (19 of the 30
        # changes lost). The check still guards several routing instances.
        async with self._case_locks[hash(case_id) % CASE_LOCK_STRIPES]:
            return await self._apply_unlocked(case_id, event, decide)

    async def _apply_unlocked(
        self,
        case_id: str,
        event: Envelope[Any],
        decide: Callable[[CaseState], Decision],
    ) -> Decision:
        event_id = str(event.event_id)
        for _ in range(MAX_CONFLICT_RETRIES):
            loaded = await self.cases.load(case_id)
            if loaded is not None and event_id in loaded.applied_events:
                return Decision(loaded.state)  # applied before a crash; nothing to redo
            state = loaded.state if loaded else empty_case(case_id)
            decision = decide(state)
            if decision.refusal:
                force = getattr(event.payload, "force", "unknown")
                metrics.UPDATES_REFUSED.labels(force).inc()
                raise UpdateRefused(decision.refusal)
            messages = [self._message(case_id, a.topic, a.event) for a in decision.announcements]
            try:
                inserted = await self.cases.save(loaded, decision.state, event_id, messages)
            except ConcurrentUpdate:
                continue
            for announcement in decision.announcements:
                if isinstance(announcement.event, CaseRouted):
                    metrics.CASE_PACKAGES.labels(announcement.event.force).inc()
            if messages:
                self.announce(case_id, inserted)
            # One line per decision: the trail an operator follows when a force says a
            # case or its evidence never arrived (which event, what it led to).
            log.info(
                "case %s: %s applied, %d event(s) to publish, sequence %d",
                case_id,
                event.event_type,
                len(messages),
                decision.state.sequence,
            )
            return decision
        raise TransientError(f"case {case_id}: too many concurrent updates")

    def _message(self, case_id: str, logical_topic: str, payload: Any) -> OutboxMessage:
        envelope = make_envelope(payload, producer=PRODUCER, correlation_id=case_id)
        return OutboxMessage(envelope, self.topic(logical_topic), key=payload.key())
