"""Routing's event handlers: each parses nothing and decides nothing, it delegates."""

from __future__ import annotations

from dataclasses import dataclass

from shopwatch.routing.service import RoutingService
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import (
    EvidenceStored,
    ForceUpdate,
    MatchingCompleted,
    ProlificOffenderFlagged,
    ReportSubmitted,
)


async def on_report_submitted(event: Envelope[ReportSubmitted], service: RoutingService) -> None:
    await service.on_report_submitted(event)


async def on_evidence_stored(event: Envelope[EvidenceStored], service: RoutingService) -> None:
    await service.on_evidence_stored(event)


async def on_matching_completed(
    event: Envelope[MatchingCompleted], service: RoutingService
) -> None:
    await service.on_matching_completed(event)


async def on_prolific_flagged(
    event: Envelope[ProlificOffenderFlagged], service: RoutingService
) -> None:
    await service.on_prolific_flagged(event)


@dataclass(frozen=True)
class ForceTopic:
    """The deps of one force's updates consumer: the service and whose topic it reads."""

    service: RoutingService
    force: str


async def on_force_update(event: Envelope[ForceUpdate], deps: ForceTopic) -> None:
    await deps.service.on_force_update(event, deps.force)
