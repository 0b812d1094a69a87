"""Intake's event handlers: keep the retailer's status timeline current."""

from __future__ import annotations

from shopwatch.intake.service import IntakeService
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import CaseStatusChanged


async def on_case_status_changed(
    event: Envelope[CaseStatusChanged], service: IntakeService
) -> None:
    await service.record_status_change(event)
