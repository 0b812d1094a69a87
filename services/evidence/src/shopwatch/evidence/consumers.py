"""Evidence's event handlers: learn whose report is whose, and which force has the case."""

from __future__ import annotations

from shopwatch.evidence.service import EvidenceService
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import CaseStatusChanged, ReportSubmitted


async def on_report_submitted(event: Envelope[ReportSubmitted], service: EvidenceService) -> None:
    await service.record_report(event.payload)


async def on_case_status_changed(
    event: Envelope[CaseStatusChanged], service: EvidenceService
) -> None:
    await service.record_case_status(event.payload)
