"""Notify's event handlers: thin, each delegates to the service."""

from __future__ import annotations

from shopwatch.notify.service import NotifyService
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import CaseStatusChanged, EvidenceRejected, ReportSubmitted


async def on_report_submitted(event: Envelope[ReportSubmitted], service: NotifyService) -> None:
    await service.record_report(event)


async def on_case_status_changed(
    event: Envelope[CaseStatusChanged], service: NotifyService
) -> None:
    await service.on_status_changed(event)


async def on_evidence_rejected(event: Envelope[EvidenceRejected], service: NotifyService) -> None:
    await service.on_evidence_rejected(event)
