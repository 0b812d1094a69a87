"""Routing's wiring: the case store, the use cases and one consumer per consumed topic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shopwatch.routing.adapters.mongo_cases import MongoCases
from shopwatch.routing.config import RoutingSettings
from shopwatch.routing.consumers import (
    ForceTopic,
    on_evidence_stored,
    on_force_update,
    on_matching_completed,
    on_prolific_flagged,
    on_report_submitted,
)
from shopwatch.routing.service import RoutingService
from shopwatch.runtime.dlq import (
    H_ERROR_MESSAGE,
    H_REASON,
    DeadLetter,
    DeadLetterPublisher,
    dlq_topic,
)
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import ReportSubmitted
from shopwatch.schemas.forces import FORCE_SLUGS
from shopwatch.schemas.topics import (
    EVIDENCE_STORED,
    MATCHING_COMPLETED,
    OFFENDERS_PROLIFIC_FLAGGED,
    REPORTS_SUBMITTED,
    ForceTopicKind,
    force_topic,
)


def wire(service: Service[RoutingSettings]) -> None:
    settings = service.settings
    cases = MongoCases(service.db)
    routing = RoutingService(
        cases=cases,
        topic=settings.topic,
        announce=lambda case_id, inserted: service.notify_outbox(
            cases.collection, case_id, inserted
        ),
        report_unroutable=_unroutable_reporter(
            service.dead_letters, settings.topic(REPORTS_SUBMITTED)
        ),
    )
    service.on_startup(cases.ensure_indexes)
    service.outbox(cases.collection)
    # Every handler applies an event to a case with its id in the same write (the case's
    # `applied_events`) and skips ids found there, so the runtime's separate
    # processed-events record (two more round trips per event) is not needed.
    service.consume(REPORTS_SUBMITTED, on_report_submitted, routing, handler_records_events=True)
    service.consume(EVIDENCE_STORED, on_evidence_stored, routing, handler_records_events=True)
    service.consume(MATCHING_COMPLETED, on_matching_completed, routing, handler_records_events=True)
    service.consume(
        OFFENDERS_PROLIFIC_FLAGGED, on_prolific_flagged, routing, handler_records_events=True
    )
    for slug in FORCE_SLUGS:
        service.consume(
            force_topic(slug, ForceTopicKind.UPDATES),
            on_force_update,
            ForceTopic(routing, slug),
            handler_records_events=True,
        )


def _unroutable_reporter(
    dead_letters: DeadLetterPublisher, reports_topic: str
) -> Callable[[Envelope[ReportSubmitted], str], Awaitable[None]]:
    """Puts a copy of an unroutable report on the reports DLQ, where operators look."""

    async def report(event: Envelope[ReportSubmitted], explanation: str) -> None:
        await dead_letters.publish(
            DeadLetter(
                topic=dlq_topic(reports_topic),
                key=event.payload.report_id.encode(),
                value=event.model_dump_json().encode(),
                headers={H_REASON: "unroutable", H_ERROR_MESSAGE: explanation},
            )
        )

    return report
