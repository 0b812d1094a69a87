"""Notify's use cases: keep a copy of each report, turn status changes into emails.

Exactly once per (event, recipient), as far as SMTP allows:

1. the Message-ID is derived from (event id, recipient), so it is the same on every
   delivery of the event;
2. a ``sent_emails`` row keyed by that Message-ID is written ``pending`` (with the
   rendered email and a lease) BEFORE the SMTP conversation, and updated to ``sent`` or
   ``failed`` after it; a second delivery of the event finds the row and sends nothing;
3. a ``pending`` row whose lease ran out (the process died mid-send) is sent again by
   the sweeper, with the same Message-ID and body.

Step 3 is at-least-once on the wire: if the process dies after the server accepted
the message but before the row says ``sent``, the message goes out twice. SMTP has no
way to ask a server "did you already take this one?"; the identical Message-ID lets
mail clients and most servers fold the two copies into one. A process stopped
*between* events (a deploy, SIGTERM) never sends a duplicate.

Failures: a transient one (server down, timeout, 4xx) leaves the row pending and
raises ``SmtpUnavailable`` (a ``TransientError``) so the consumer retries the event with
backoff; rows already sent are skipped on the retry. Meanwhile the sweeper keeps trying
the pending rows too; a row it read before another path recorded the send is neither
leased (the take-over is conditional on ``pending``) nor sent again by this process (it
remembers what it handed to the server). A permanent one (5xx for the
recipient, an invalid address) marks that recipient's row ``failed`` with the reason,
dead-letters the event with the reason for operators, and the other recipients still
get theirs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from shopwatch.notify.adapters.mongo import (
    PENDING,
    MongoContacts,
    MongoDigestItems,
    MongoFailedEvents,
    MongoPreferences,
    MongoReports,
    MongoSentEmails,
    email_from_row,
)
from shopwatch.notify.adapters.smtp import OutgoingEmail, SendFailed
from shopwatch.notify.domain import (
    DIGEST_TEMPLATE,
    STATUS_KINDS,
    Mode,
    Notice,
    Recipients,
    ReportCopy,
    address_key,
    digest_message_id,
    message_id,
    notice_for_rejection,
    notice_for_status,
    resolve_recipients,
)
from shopwatch.notify.metrics import (
    DIGEST_ITEMS_QUEUED,
    EMAILS_FAILED,
    EMAILS_PENDING,
    EMAILS_RETRIED,
    EMAILS_SENT,
    NOTIFY_EVENTS_FAILED,
)
from shopwatch.notify.render import MailView, Renderer, mail_view
from shopwatch.runtime.dlq import (
    H_CONSUMER_GROUP,
    H_ERROR_MESSAGE,
    H_FAILED_AT,
    H_ORIGINAL_TOPIC,
    H_REASON,
    MAX_ERROR_MESSAGE,
    DeadLetter,
    DeadLetterPublisher,
    dlq_topic,
)
from shopwatch.runtime.logging import log_context
from shopwatch.runtime.retry import PoisonMessage, TransientError
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import CaseStatusChanged, Event, EvidenceRejected, ReportSubmitted
from shopwatch.schemas.registry import encode_event
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, EVIDENCE_REJECTED

log = logging.getLogger(__name__)

H_RECIPIENT = "dlq-recipient"
H_MESSAGE_ID = "dlq-message-id"
_UNKNOWN_TRACKED = 10_000  # event ids whose report is awaited, kept in memory at most
_SENT_HERE_KEPT = 50_000  # Message-IDs this process sent, remembered against stale resends


class SmtpUnavailable(TransientError):
    """Some emails of this event could not be sent for a reason a retry may cure."""


class ReportNotYetKnown(TransientError):
    """A status change arrived before the report it is about; it may still be coming."""


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None:
        """Return once the server accepted it; raise SendFailed (classified) otherwise."""


class Delivery(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # permanent, recorded
    DEFERRED = "deferred"  # transient, still pending
    DONE_BEFORE = "done_before"  # sent or failed by an earlier delivery of the event
    IN_FLIGHT = "in_flight"  # another sender holds the lease; the sweeper watches it


@dataclass(frozen=True)
class Timing:
    send_timeout_s: float = 120.0
    sweep_retry_initial_s: float = 30.0
    sweep_retry_max_s: float = 900.0
    unknown_report_attempts: int = 5

    def retry_delay(self, attempts: int) -> timedelta:
        seconds = self.sweep_retry_initial_s * 2 ** max(0, attempts - 1)
        return timedelta(seconds=min(self.sweep_retry_max_s, seconds))


@dataclass(frozen=True)
class Source:
    """The event as it was on the wire, for dead letters an operator can read and replay."""

    topic: str
    key: str
    value: str

    def as_doc(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Source | None:
        return None if not doc else cls(doc["topic"], doc["key"], doc["value"])


def utc_now() -> datetime:
    return datetime.now(UTC)


class NotifyService:
    def __init__(
        self,
        *,
        reports: MongoReports,
        contacts: MongoContacts,
        preferences: MongoPreferences,
        sent_emails: MongoSentEmails,
        digest_items: MongoDigestItems,
        failed_events: MongoFailedEvents,
        mailer: Mailer,
        renderer: Renderer,
        id_domain: str,
        topic: Callable[[str], str],
        dead_letters: DeadLetterPublisher | None = None,
        timing: Timing | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.reports = reports
        self.contacts = contacts
        self.preferences = preferences
        self.ledger = sent_emails
        self.digest_items = digest_items
        self.failed_events = failed_events
        self.mailer = mailer
        self.renderer = renderer
        self.id_domain = id_domain
        self.topic = topic
        self.dead_letters = dead_letters
        self.timing = timing or Timing()
        self.clock = clock
        # Accepted by the server, not yet recorded as sent (the database hiccuped): a
        # retry in this process records it instead of sending it again.
        self._sent_unrecorded: set[str] = set()
        # Every Message-ID this process handed to the server lately, recorded or not: a
        # sweeper holding a stale `pending` copy of the row must not send it again (seen
        # under a FerretDB outage: the send's record failed, the consumer's retry recorded
        # it, and the sweeper's older read resent it). Bounded; oldest forgotten first.
        self._sent_here: dict[str, None] = {}
        self._unknown_attempts: dict[str, int] = {}
        self._in_flight: set[asyncio.Task[Delivery]] = set()

    # --- events -------------------------------------------------------------------------

    async def record_report(self, event: Envelope[ReportSubmitted]) -> None:
        copy = ReportCopy.from_event(event.payload)
        with log_context(report_id=copy.report_id):
            await self.reports.save(copy, self.clock())

    async def on_status_changed(self, event: Envelope[CaseStatusChanged]) -> None:
        change = event.payload
        with log_context(report_id=change.report_id, case_id=change.case_id):
            if change.status not in STATUS_KINDS:
                # Nothing to email, so nothing to wait for: no retries for an unknown
                # report here. The force is still remembered for later emails.
                if change.force and (known := await self.reports.get(change.report_id)):
                    await self._remember_force(known, change.force)
                log.info("status %s is not emailed", change.status.value)
                return
            report = await self._known_report(event, change.report_id, CASES_STATUS_CHANGED)
            if report is None:
                return
            self._check_retailer(report, change.retailer_id)
            if change.force:
                await self._remember_force(report, change.force)
            notice = notice_for_status(change, report)
            assert notice is not None  # every status in STATUS_KINDS gives one
            await self._notify(
                notice, str(event.event_id), self._source(event, CASES_STATUS_CHANGED)
            )

    async def on_evidence_rejected(self, event: Envelope[EvidenceRejected]) -> None:
        rejected = event.payload
        with log_context(report_id=rejected.report_id, evidence_id=rejected.evidence_id):
            report = await self._known_report(event, rejected.report_id, EVIDENCE_REJECTED)
            if report is None:
                return
            self._check_retailer(report, rejected.retailer_id)
            notice = notice_for_rejection(rejected, report)
            await self._notify(notice, str(event.event_id), self._source(event, EVIDENCE_REJECTED))

    async def _remember_force(self, report: ReportCopy, force: str) -> None:
        # For the emails that carry no force (an evidence upload rejected later).
        if report.force != force:
            await self.reports.set_force(report.report_id, force)

    @staticmethod
    def _check_retailer(report: ReportCopy, retailer_id: str) -> None:
        if report.retailer_id != retailer_id:
            # Emailing on a mismatched event could tell one retailer about another's case.
            raise PoisonMessage(
                f"event names retailer {retailer_id!r} but report {report.report_id} "
                f"belongs to {report.retailer_id!r}"
            )

    def _source(self, event: Envelope[Any], topic: str) -> Source:
        payload: Event = event.payload
        return Source(self.topic(topic), payload.key(), encode_event(event).decode())

    async def _known_report(
        self, event: Envelope[Any], report_id: str, topic: str
    ) -> ReportCopy | None:
        """The report's copy; retries (transient) while it may still arrive, then gives up."""
        event_id = str(event.event_id)
        report = await self.reports.get(report_id)
        if report is not None:
            self._unknown_attempts.pop(event_id, None)
            return report
        attempts = self._unknown_attempts.pop(event_id, 0) + 1
        if attempts < self.timing.unknown_report_attempts:
            while len(self._unknown_attempts) >= _UNKNOWN_TRACKED:
                self._unknown_attempts.pop(next(iter(self._unknown_attempts)))
            self._unknown_attempts[event_id] = attempts
            raise ReportNotYetKnown(
                f"report {report_id} not seen yet (attempt {attempts} of "
                f"{self.timing.unknown_report_attempts}); its reports.submitted event may "
                "still be on the way"
            )
        detail = (
            f"no reports.submitted event was seen for report {report_id} after {attempts} "
            "attempts: nobody to email"
        )
        now = self.clock()
        await self.failed_events.record(
            event_id,
            {
                "event_type": event.event_type,
                "report_id": report_id,
                "reason": "unknown_report",
                "detail": detail,
                "failed_at": now,
                "source": self._source(event, topic).as_doc(),
            },
        )
        NOTIFY_EVENTS_FAILED.labels("unknown_report").inc()
        log.error("giving up on event %s: %s", event_id, detail)
        await self._dead_letter(self._source(event, topic), "unknown_report", detail)
        return None

    # --- one notice to its recipients ----------------------------------------------------

    async def recipients_for(self, report: ReportCopy) -> Recipients:
        store = await self.contacts.get(report.retailer_id, report.store_id)
        retailer = await self.contacts.get(report.retailer_id)
        return resolve_recipients(report.reporter_email, store, retailer)

    async def _notify(self, notice: Notice, event_id: str, source: Source) -> None:
        report = notice.report
        prefs = await self.preferences.get(report.retailer_id)
        if not prefs.wants(notice.kind):
            log.info("retailer %s does not want %s emails", report.retailer_id, notice.kind.value)
            return
        recipients = await self.recipients_for(report)
        for address, why in recipients.invalid:
            await self._record_invalid(notice, event_id, address, why, source)
        if prefs.mode is Mode.DIGEST:
            await self._queue_for_digest(notice, event_id, recipients)
            return
        outcomes = await self._deliver(notice, recipients.valid, event_id, source)
        deferred = [to for to, outcome in outcomes.items() if outcome is Delivery.DEFERRED]
        if deferred:
            raise SmtpUnavailable(
                f"{len(deferred)} of {len(recipients.valid)} emails could not be sent yet; "
                "they stay pending and are retried"
            )

    async def _record_invalid(
        self, notice: Notice, event_id: str, address: str, why: str, source: Source
    ) -> None:
        mid = message_id(event_id, address, self.id_domain)
        inserted = await self.ledger.record_failed(
            mid,
            to=address,
            template=notice.kind.value,
            report_id=notice.report.report_id,
            retailer_id=notice.report.retailer_id,
            event_id=event_id,
            reason="invalid_address",
            error=why,
            now=self.clock(),
        )
        if inserted:
            EMAILS_FAILED.labels("invalid_address").inc()
            log.warning("not emailing an invalid address: %s", why)
            await self._dead_letter(source, "email_invalid_address", why, address, mid)

    async def _deliver(
        self, notice: Notice, recipients: tuple[str, ...], event_id: str, source: Source
    ) -> dict[str, Delivery]:
        """One email per recipient: pending rows first (one write), then each send."""
        ids = {to: message_id(event_id, to, self.id_domain) for to in recipients}
        existing: dict[str, dict[str, Any]] = {}
        for mid in ids.values():
            row = await self.ledger.get(mid)
            if row is not None:
                existing[mid] = row
        now = self.clock()
        fresh: dict[str, OutgoingEmail] = {}
        rendered = self.renderer.notice(notice) if len(existing) < len(ids) else None
        for to, mid in ids.items():
            if mid not in existing and rendered is not None:
                fresh[mid] = OutgoingEmail(
                    message_id=mid,
                    to=to,
                    subject=rendered.subject,
                    text=rendered.text,
                    html=rendered.html,
                    template=notice.kind.value,
                    created_at=now,
                    report_id=notice.report.report_id,
                )
        lease = self.timing.send_timeout_s
        claimed = await self.ledger.claim_new(
            list(fresh.values()),
            lease_until=now + timedelta(seconds=lease),
            event_id=event_id,
            retailer_id=notice.report.retailer_id,
            source=source.as_doc(),
        )

        async def one(mid: str) -> Delivery:
            if mid in claimed:
                return await self._send_claimed(fresh[mid], source)
            row = existing.get(mid) or await self.ledger.get(mid)
            if row is None:
                raise TransientError(f"sent_emails row {mid} neither inserted nor found")
            return await self._resume(row)

        # Recipients are independent: a slow relay costs one round trip per event, not
        # one per recipient (the partition waits for the whole event).
        results = await asyncio.gather(*(one(mid) for mid in ids.values()))
        return dict(zip(ids, results, strict=True))

    async def _resume(self, row: dict[str, Any]) -> Delivery:
        """A row that exists: finish it if it is pending and nobody holds it."""
        mid = row["_id"]
        if row["status"] != PENDING:
            return Delivery.DONE_BEFORE
        now = self.clock()
        if mid in self._sent_unrecorded or mid in self._sent_here:
            await self._mark_sent(mid, row["template"], now)
            return Delivery.SENT
        taken = await self.ledger.take_over(
            row, now, now + timedelta(seconds=self.timing.send_timeout_s)
        )
        if taken is None:
            return Delivery.IN_FLIGHT
        if mid in self._sent_here:  # sent by another path while the take-over was awaited
            await self._mark_sent(mid, row["template"], self.clock())
            return Delivery.SENT
        if taken["attempts"] > 1:
            log.info(
                "resending pending email %s (attempt %d, last: %s)",
                mid,
                taken["attempts"],
                taken.get("reason") or "interrupted",
            )
        return await self._send_claimed(email_from_row(taken), Source.from_doc(taken.get("source")))

    async def _send_claimed(self, email: OutgoingEmail, source: Source | None) -> Delivery:
        # The SMTP conversation and its record run in their own task and finish even if
        # the handler is cancelled (a consumer being stopped cancels its handler): cut
        # between "server accepted" and "row says sent", the row would stay pending and
        # the message would be sent again after a restart. `drain` waits for them.
        task = asyncio.create_task(self._attempt(email, source), name=f"send {email.message_id}")
        self._in_flight.add(task)
        task.add_done_callback(_forget(self._in_flight))
        return await asyncio.shield(task)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait for sends in progress (at shutdown, before the database closes)."""
        if self._in_flight:
            log.info("waiting for %d email(s) in flight", len(self._in_flight))
            await asyncio.wait(set(self._in_flight), timeout=timeout_s)

    async def _attempt(self, email: OutgoingEmail, source: Source | None) -> Delivery:
        try:
            await self.mailer.send(email)
        except SendFailed as exc:
            failure = exc.failure
            now = self.clock()
            if failure.transient:
                EMAILS_RETRIED.labels(failure.reason).inc()
                row = await self.ledger.get(email.message_id)
                attempts = int(row["attempts"]) if row else 1
                await self.ledger.release(
                    email.message_id,
                    failure.reason,
                    failure.detail,
                    retry_at=now + self.timing.retry_delay(attempts),
                )
                log.warning("email %s deferred (%s): %s", email.message_id, *_why(failure))
                return Delivery.DEFERRED
            await self.ledger.mark_failed(email.message_id, failure.reason, failure.detail, now)
            EMAILS_FAILED.labels(failure.reason).inc()
            log.error("email %s failed for good (%s): %s", email.message_id, *_why(failure))
            if source is not None:
                await self._dead_letter(
                    source, f"email_{failure.reason}", failure.detail, email.to, email.message_id
                )
            return Delivery.FAILED
        self._sent_unrecorded.add(email.message_id)
        self._sent_here[email.message_id] = None
        while len(self._sent_here) > _SENT_HERE_KEPT:
            self._sent_here.pop(next(iter(self._sent_here)))
        await self._mark_sent(email.message_id, email.template, self.clock())
        return Delivery.SENT

    async def _mark_sent(self, mid: str, template: str, now: datetime) -> None:
        await self.ledger.mark_sent(mid, now)
        if mid in self._sent_unrecorded:
            self._sent_unrecorded.discard(mid)
            EMAILS_SENT.labels(template).inc()

    async def _dead_letter(
        self,
        source: Source,
        reason: str,
        detail: str,
        recipient: str | None = None,
        mid: str | None = None,
    ) -> None:
        """Tell operators through the topic's DLQ; the database row stays the record."""
        if self.dead_letters is None:
            return
        headers = {
            H_REASON: reason,
            H_ERROR_MESSAGE: detail[:MAX_ERROR_MESSAGE],
            H_ORIGINAL_TOPIC: source.topic,
            H_CONSUMER_GROUP: "notify",
            H_FAILED_AT: self.clock().isoformat(),
        }
        if recipient:
            headers[H_RECIPIENT] = recipient
        if mid:
            headers[H_MESSAGE_ID] = mid
        letter = DeadLetter(
            topic=dlq_topic(source.topic),
            key=source.key.encode(),
            value=source.value.encode(),
            headers=headers,
        )
        try:
            await self.dead_letters.publish(letter)
        except Exception:
            log.exception("could not publish a dead letter for %s (recorded in MongoDB)", reason)

    # --- the sweeper ---------------------------------------------------------------------

    async def sweep(self, limit: int = 100) -> int:
        """Send pending emails that nobody holds and whose retry time has come."""
        sent = 0
        for row in await self.ledger.due(self.clock(), limit):
            with log_context(report_id=row.get("report_id")):
                if await self._resume(row) is Delivery.SENT:
                    sent += 1
        EMAILS_PENDING.set(await self.ledger.count(PENDING))
        return sent

    # --- the digest ----------------------------------------------------------------------

    async def _queue_for_digest(
        self, notice: Notice, event_id: str, recipients: Recipients
    ) -> None:
        view = asdict(mail_view(notice, self.renderer.links))
        now = self.clock()
        for to in recipients.valid:
            added = await self.digest_items.add(
                message_id(event_id, to, self.id_domain),
                {
                    "retailer_id": notice.report.retailer_id,
                    "recipient": address_key(to),
                    "to": to,
                    "day": now.date().isoformat(),
                    "occurred_at": notice.occurred_at,
                    "report_id": notice.report.report_id,
                    "event_id": event_id,
                    "view": view,
                    "queued_at": now,
                },
            )
            if added:
                DIGEST_ITEMS_QUEUED.inc()

    async def send_digests(self, up_to: date) -> int:
        """One summary per (retailer, recipient) of the items dated up to `up_to`.

        Idempotent per retailer, day and recipient: the Message-ID comes from them, so a
        second run (or a second process) finds the row and sends nothing. Items that
        arrive after that day's summary went out wait for the next one.
        """
        sent = 0
        for retailer_id, recipient in await self.digest_items.open_groups(up_to):
            with log_context(retailer_id=retailer_id):
                outcome = await self._send_digest(retailer_id, recipient, up_to)
            if outcome is Delivery.SENT:
                sent += 1
        return sent

    async def _send_digest(self, retailer_id: str, recipient: str, day: date) -> Delivery:
        mid = digest_message_id(retailer_id, day, recipient, self.id_domain)
        row = await self.ledger.get(mid)
        if row is not None:
            return await self._resume(row)
        await self.digest_items.claim(retailer_id, recipient, day, mid)
        items = await self.digest_items.claimed(mid)
        if not items:
            return Delivery.DONE_BEFORE
        rendered = self.renderer.digest(day, [MailView(**item["view"]) for item in items])
        now = self.clock()
        email = OutgoingEmail(
            message_id=mid,
            to=items[0]["to"],
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            template=DIGEST_TEMPLATE,
            created_at=now,
        )
        if not await self.ledger.claim_new(
            [email],
            lease_until=now + timedelta(seconds=self.timing.send_timeout_s),
            event_id=None,
            retailer_id=retailer_id,
        ):
            return Delivery.IN_FLIGHT
        return await self._send_claimed(email, None)


def _forget(tasks: set[asyncio.Task[Delivery]]) -> Callable[[asyncio.Task[Delivery]], None]:
    def done(task: asyncio.Task[Delivery]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here so a send whose handler was cancelled still gets logged.
            log.error("email send task failed", exc_info=task.exception())

    return done


def _why(failure: Any) -> tuple[str, str]:
    return failure.reason, failure.detail
