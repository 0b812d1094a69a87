"""Notify's wiring: collections, mailer, templates, the use cases, consumers and loops."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.notify.adapters.mongo import (
    MongoContacts,
    MongoDigestItems,
    MongoFailedEvents,
    MongoPreferences,
    MongoReports,
    MongoSentEmails,
)
from shopwatch.notify.adapters.smtp import SmtpMailer
from shopwatch.notify.config import NotifySettings
from shopwatch.notify.consumers import (
    on_case_status_changed,
    on_evidence_rejected,
    on_report_submitted,
)
from shopwatch.notify.periodic import digester, sweeper
from shopwatch.notify.render import Links, Renderer
from shopwatch.notify.service import NotifyService, Timing
from shopwatch.runtime.dlq import DeadLetterPublisher
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, EVIDENCE_REJECTED, REPORTS_SUBMITTED


def build_service(
    settings: NotifySettings,
    db: AsyncDatabase[dict[str, Any]],
    dead_letters: DeadLetterPublisher | None,
) -> NotifyService:
    """The use cases on a database; shared by the service process and the digest command."""
    return NotifyService(
        reports=MongoReports(db),
        contacts=MongoContacts(db),
        preferences=MongoPreferences(db),
        sent_emails=MongoSentEmails(db),
        digest_items=MongoDigestItems(db),
        failed_events=MongoFailedEvents(db),
        mailer=SmtpMailer(settings),
        renderer=Renderer(Links(settings.public_base_url, settings.evidence_base_url)),
        id_domain=settings.id_domain,
        topic=settings.topic,
        dead_letters=dead_letters,
        timing=Timing(
            send_timeout_s=settings.send_timeout_s,
            sweep_retry_initial_s=settings.sweep_retry_initial_s,
            sweep_retry_max_s=settings.sweep_retry_max_s,
            unknown_report_attempts=settings.unknown_report_attempts,
        ),
    )


async def ensure_indexes(notify: NotifyService) -> None:
    await notify.contacts.ensure_indexes()
    await notify.ledger.ensure_indexes()
    await notify.digest_items.ensure_indexes()


def wire(service: Service[NotifySettings]) -> None:
    settings = service.settings
    notify = build_service(settings, service.db, service.dead_letters)

    async def indexes() -> None:
        await ensure_indexes(notify)

    service.on_startup(indexes)
    # Shutdown hooks run in reverse: the loops stop first, then sends in flight finish,
    # then (in the runtime) the database closes.
    service.on_shutdown(notify.drain)
    service.consume(REPORTS_SUBMITTED, on_report_submitted, notify)
    service.consume(CASES_STATUS_CHANGED, on_case_status_changed, notify)
    service.consume(EVIDENCE_REJECTED, on_evidence_rejected, notify)

    loops = [sweeper(notify, settings.sweep_interval_s)]
    if settings.digest_enabled:
        loops.append(digester(notify, settings.digest_interval_s))
    for loop in loops:
        service.on_startup(loop.start)
        service.on_shutdown(loop.stop)
