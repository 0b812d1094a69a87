"""Matching's event handler: delegates to the use case."""

from __future__ import annotations

from shopwatch.matching.service import MatchingService
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import MatchingRequested, OffenderLinkDecided


async def on_matching_requested(
    event: Envelope[MatchingRequested], service: MatchingService
) -> None:
    await service.on_matching_requested(event)


async def on_link_decided(event: Envelope[OffenderLinkDecided], service: MatchingService) -> None:
    await service.on_link_decided(event)
