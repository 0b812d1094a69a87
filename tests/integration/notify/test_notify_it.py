"""Notify against the real stack: Kafka, FerretDB and SMTP servers that really listen.

The local stack's SMTP sink (aiosmtpd, one .eml file per accepted message) takes the
ordinary mail; the tests that need a server that refuses a recipient, defers one, or
is down and comes back start their own aiosmtpd on a free loopback port, which is just
as real an SMTP server.

Every test has its own topic prefix (notify's three topics and their DLQs, created and
deleted here), database and recipient domain, so it sees only its own messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped]
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from shopwatch.notify.adapters.mongo import MongoContacts, MongoSentEmails
from shopwatch.notify.adapters.smtp import OutgoingEmail
from shopwatch.notify.admin import NotifyAdmin
from shopwatch.notify.app import build_service, wire
from shopwatch.notify.config import NotifySettings
from shopwatch.notify.digest import main as digest_main
from shopwatch.notify.digest import run as run_digest
from shopwatch.notify.domain import message_id
from shopwatch.notify.periodic import sweeper
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.enums import EvidenceRejectionReason, OutcomeKind, UpdateKind
from shopwatch.schemas.envelope import Envelope
from shopwatch.schemas.events import (
    CaseStatusChanged,
    Event,
    EvidenceRejected,
    EvidenceRequest,
    ReportSubmitted,
)
from shopwatch.schemas.registry import encode_event, make_envelope
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, EVIDENCE_REJECTED, REPORTS_SUBMITTED
from tests.unit.notify.sensitive_report import leaks, sensitive_report_event

# Well under the 2-minute budget for the module; each test also has its own bound.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(45)]

NOTIFY_TOPICS = (REPORTS_SUBMITTED, CASES_STATUS_CHANGED, EVIDENCE_REJECTED)
PUBLIC = "https://retailers.shopwatch.example"
ID_DOMAIN = "shopwatch.example"
PRODUCERS = {ReportSubmitted: "intake", CaseStatusChanged: "routing", EvidenceRejected: "evidence"}


MODULE_BUDGET_S = 120.0


@pytest.fixture(scope="module", autouse=True)
def module_budget() -> Iterator[None]:
    """The whole module must stay under two minutes (each test has its own bound too)."""
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < MODULE_BUDGET_S, f"notify integration tests took {elapsed:.0f}s"


# --- plumbing ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def prefix(stack_env: Any) -> AsyncIterator[str]:
    """Notify's topics (and DLQs) under a prefix of this test's own."""
    name = f"tn{secrets.token_hex(4)}."
    topics = [name + t for t in NOTIFY_TOPICS] + [f"{name}{t}.dlq" for t in NOTIFY_TOPICS]
    admin = AIOKafkaAdminClient(bootstrap_servers=stack_env.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 1, 1) for t in topics])
        yield name
    finally:
        try:
            await admin.delete_topics(topics)
        finally:
            await admin.close()


@pytest.fixture
def domain() -> str:
    """A recipient domain of this test's own: the sink is shared with every other run."""
    return f"r{secrets.token_hex(4)}.northmart.example"


@pytest.fixture
async def producer(stack_env: Any) -> AsyncIterator[AIOKafkaProducer]:
    kafka = AIOKafkaProducer(bootstrap_servers=stack_env.kafka_bootstrap, acks="all")
    await kafka.start()
    yield kafka
    await kafka.stop()


def settings_for(
    stack_env: Any, prefix: str, database: str, *, smtp_port: int | None = None, **extra: Any
) -> NotifySettings:
    values: dict[str, Any] = {
        "kafka_bootstrap": stack_env.kafka_bootstrap,
        "mongo_url": SecretStr(stack_env.mongo_url),
        "mongo_database": database,
        "topic_prefix": prefix,
        "smtp_host": stack_env.smtp_host if smtp_port is None else "127.0.0.1",
        "smtp_port": smtp_port or stack_env.smtp_port,
        "smtp_timeout_s": 3.0,
        "send_timeout_s": 10.0,
        "consumer_max_attempts": 40,
        "consumer_backoff_initial_s": 0.1,
        "consumer_backoff_max_s": 1.0,
        "unknown_report_attempts": 4,
        "sweep_interval_s": 0.5,
        "sweep_retry_initial_s": 0.5,
        "sweep_retry_max_s": 2.0,
        "digest_enabled": False,
        "public_base_url": PUBLIC,
        "mail_from": f"Shopwatch <notifications@{ID_DOMAIN}>",
    }
    values.update(extra)
    return NotifySettings(**values)


def envelope(payload: Event) -> Envelope[Any]:
    return make_envelope(payload, producer=PRODUCERS[type(payload)])


async def publish(
    producer: AIOKafkaProducer, prefix: str, topic: str, event: Envelope[Any]
) -> Envelope[Any]:
    await producer.send_and_wait(
        prefix + topic, encode_event(event), key=event.payload.key().encode()
    )
    return event


@dataclass
class Case:
    """One report and the status changes routing would announce for it."""

    submitted: ReportSubmitted
    sequence: int = 1
    status: CaseStatus = CaseStatus.SUBMITTED
    force: str | None = None

    def move(self, status: CaseStatus, **fields: Any) -> CaseStatusChanged:
        self.sequence += 1
        force = fields.pop("force", self.force if status is not CaseStatus.UNROUTABLE else None)
        if status is CaseStatus.ROUTED:
            force = force or "durham"
        change = CaseStatusChanged.model_validate(
            {
                "case_id": self.submitted.report_id,
                "report_id": self.submitted.report_id,
                "reference": self.submitted.reference,
                "retailer_id": self.submitted.retailer_id,
                "store_id": self.submitted.store.store_id,
                "sequence": self.sequence,
                "force": force,
                "previous_status": self.status,
                "status": status,
                "changed_at": datetime.now(UTC),
                **fields,
            }
        )
        self.status, self.force = status, force
        return change


def new_case(domain: str, n: int = 1, *, retailer: str, store: str = "store-0042") -> Case:
    return Case(
        sensitive_report_event(
            reference=f"SW-20261102-{n:06d}",
            retailer_id=retailer,
            store_id=store,
            reporter_email=f"manager.{n}@{domain}",
        )
    )


# --- reading what the servers accepted -----------------------------------------------------


@dataclass
class Mail:
    rcpt: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body((subtype,))
        assert body is not None, f"no text/{subtype} part in {self.subject!r}"
        content: str = body.get_content()
        return content


def parse(raw: bytes, rcpt: Iterable[str] | None = None) -> Mail:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    if rcpt is None:
        rcpt = [r.strip() for r in str(message.get("X-Sink-Rcpt-To", "")).split(",")]
    return Mail(tuple(r.lower() for r in rcpt if r), message, raw)


class SinkFolder:
    """The local stack's SMTP sink: new .eml files since this object was made."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._seen = {p.name for p in store.glob("*.eml")}
        self._mails: dict[str, Mail] = {}

    def mails(self, domain: str) -> list[Mail]:
        for path in sorted(self.store.glob("*.eml")):
            if path.name not in self._seen:
                self._seen.add(path.name)
                self._mails[path.name] = parse(path.read_bytes())
        return [m for m in self._mails.values() if any(r.endswith("@" + domain) for r in m.rcpt)]


@pytest.fixture
def sink(stack_env: Any) -> SinkFolder:
    if stack_env.smtp_store is None:
        pytest.fail("these tests read the local stack's SMTP sink folder (SHOPWATCH_SMTP_STORE)")
    return SinkFolder(Path(stack_env.smtp_store))


class Recorder:
    """An aiosmtpd handler that keeps messages, refuses some recipients, defers others."""

    def __init__(self, refuse: Iterable[str] = (), defer: dict[str, int] | None = None) -> None:
        self.refuse = {r.lower() for r in refuse}
        self.defer = {k.lower(): v for k, v in (defer or {}).items()}
        self.mails: list[Mail] = []
        self.replies: list[tuple[str, str]] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        key = address.lower()
        if key in self.refuse:
            self.replies.append((key, "550"))
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if self.defer.get(key, 0) > 0:
            self.defer[key] -= 1
            self.replies.append((key, "451"))
            return "451 4.7.1 greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append(parse(envelope.original_content, envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def start_smtp(handler: Recorder, port: int) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def assert_no_leaks(mails: Iterable[Mail]) -> int:
    """Scan every header and every decoded body part of every message."""
    count = 0
    for mail in mails:
        texts = [f"{k}: {v}" for k, v in mail.message.items()]
        texts += [str(p.get_content()) for p in mail.message.walk() if not p.is_multipart()]
        texts.append(mail.raw.decode("utf-8", "replace"))
        for text in texts:
            assert leaks(text) == [], f"{mail.subject!r} leaks {leaks(text)}"
        count += 1
    return count


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def until(
    check: Callable[[], Awaitable[bool] | bool], timeout_s: float, what: str, step: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        await asyncio.sleep(step)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


async def dead_letters(stack_env: Any, topic: str, read_topic: Any, want: int) -> list[Any]:
    return list(await read_topic(topic, until=lambda rs: len(rs) >= want, idle_s=0.3, timeout_s=10))


# --- the tests -----------------------------------------------------------------------------


async def test_each_status_sends_one_email_per_recipient_with_both_bodies(
    stack_env: Any,
    prefix: str,
    domain: str,
    producer: AIOKafkaProducer,
    sink: SinkFolder,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
) -> None:
    retailer = f"ret-{secrets.token_hex(3)}"
    settings = settings_for(stack_env, prefix, mongo_db_name("statuses"))
    async with run_service(settings, wire) as service:
        admin = NotifyAdmin(service.db)
        await admin.set_contacts(
            retailer, "store-0042", [f"durham.0042@{domain}", f"MANAGER.1@{domain}"]
        )
        await admin.set_contacts(retailer, None, [f"loss.prevention@{domain}"])
        recipients = [f"manager.1@{domain}", f"durham.0042@{domain}", f"loss.prevention@{domain}"]

        case = new_case(domain, 1, retailer=retailer)
        found_later = new_case(domain, 2, retailer=retailer)
        await publish(producer, prefix, REPORTS_SUBMITTED, envelope(case.submitted))
        await publish(producer, prefix, REPORTS_SUBMITTED, envelope(found_later.submitted))
        crime = "DHM-26-114523"
        changes = [
            case.move(CaseStatus.ROUTED),
            case.move(CaseStatus.ACKNOWLEDGED, update_kind=UpdateKind.ACKNOWLEDGED),
            case.move(
                CaseStatus.CRIME_RECORDED,
                update_kind=UpdateKind.CRIME_RECORDED,
                crime_reference=crime,
            ),
            case.move(
                CaseStatus.EVIDENCE_REQUESTED,
                update_kind=UpdateKind.EVIDENCE_REQUESTED,
                crime_reference=crime,
                evidence_request=EvidenceRequest(
                    description="CCTV of the front door from 14:20 to 14:50.",
                    due_by=date(2026, 12, 1),
                ),
            ),
            case.move(
                CaseStatus.OUTCOME_RECORDED,
                update_kind=UpdateKind.OUTCOME,
                crime_reference=crime,
                outcome=OutcomeKind.CHARGED,
            ),
            case.move(CaseStatus.CLOSED, update_kind=UpdateKind.CLOSED, crime_reference=crime),
            found_later.move(CaseStatus.UNROUTABLE),
            found_later.move(CaseStatus.ROUTED, force="cleveland"),
        ]
        sent_events = [
            await publish(producer, prefix, CASES_STATUS_CHANGED, envelope(c)) for c in changes
        ]
        rejected = await publish(
            producer,
            prefix,
            EVIDENCE_REJECTED,
            envelope(
                EvidenceRejected(
                    evidence_id="ev-1",
                    report_id=case.submitted.report_id,
                    retailer_id=retailer,
                    file_name="front_door.mp4",
                    reason=EvidenceRejectionReason.EXECUTABLE_CONTENT,
                    detail="a Windows program renamed to .mp4",
                    rejected_at=datetime.now(UTC),
                )
            ),
        )
        # The same events delivered again (at-least-once upstream) send nothing more.
        await publish(producer, prefix, CASES_STATUS_CHANGED, sent_events[2])
        await publish(producer, prefix, EVIDENCE_REJECTED, rejected)

        ref1, ref2 = case.submitted.reference, found_later.submitted.reference
        expected_subjects = {
            f"Report {ref1} received and passed to Durham Constabulary",
            f"Report {ref1}: crime recorded ({crime})",
            f"Report {ref1}: the police need more evidence",
            f"Report {ref1}: an evidence file was not accepted",
            f"Report {ref1}: outcome - someone has been charged",
            f"Report {ref1}: case closed",
            f"Report {ref2} received: finding the right police force",
            f"Report {ref2} received and passed to Cleveland Police",
        }
        # The second report's reporter is also a recipient of its own two emails.
        want = len(expected_subjects) * 3 + 2
        await until(lambda: len(sink.mails(domain)) >= want, 30, f"{want} emails")
        await asyncio.sleep(1.5)  # anything more would be a duplicate
        mails = sink.mails(domain)

    assert len(mails) == want, sorted((m.rcpt, m.subject) for m in mails)
    by_rcpt_subject: dict[tuple[str, str], list[Mail]] = {}
    for mail in mails:
        assert len(mail.rcpt) == 1  # one message per recipient: one Message-ID each
        by_rcpt_subject.setdefault((mail.rcpt[0], mail.subject), []).append(mail)
    assert all(len(v) == 1 for v in by_rcpt_subject.values())
    for rcpt in recipients:
        subjects = {s for (r, s) in by_rcpt_subject if r == rcpt}
        assert subjects == expected_subjects, rcpt
    assert {s for (r, s) in by_rcpt_subject if r == f"manager.2@{domain}"} == {
        s for s in expected_subjects if ref2 in s
    }

    # Message-IDs are the deterministic ones, one per (event, recipient).
    ids = {m.message_id for m in mails}
    assert len(ids) == len(mails)
    routed = sent_events[0]
    for rcpt in recipients:
        assert message_id(str(routed.event_id), rcpt, ID_DOMAIN) in ids

    for mail in mails:
        text, html = mail.part("plain"), mail.part("html")
        report_id = str(mail.message["X-Shopwatch-Report-Id"])
        for body in (text, html):
            assert f"{PUBLIC}/v1/reports/{report_id}" in body
            assert "Northmart Durham Market Place" in body
        assert html.lstrip().startswith("<!DOCTYPE html>")
        assert mail.message["From"] == f"Shopwatch <notifications@{ID_DOMAIN}>"
    evidence = next(m for m in mails if "need more evidence" in m.subject)
    assert "CCTV of the front door from 14:20 to 14:50." in evidence.part("plain")
    assert f"shopwatch upload {case.submitted.report_id} FILE" in evidence.part("plain")
    charged = next(m for m in mails if "charged" in m.subject)
    assert "The police have charged someone" in charged.part("plain")
    assert assert_no_leaks(mails) == want


async def test_unknown_report_invalid_address_and_preferences(
    stack_env: Any,
    prefix: str,
    domain: str,
    producer: AIOKafkaProducer,
    sink: SinkFolder,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
    read_topic: Any,
) -> None:
    retailer, picky = f"ret-{secrets.token_hex(3)}", f"ret-{secrets.token_hex(3)}"
    settings = settings_for(stack_env, prefix, mongo_db_name("bad_input"))
    async with run_service(settings, wire) as service:
        admin = NotifyAdmin(service.db)
        # An address saved before validation existed (the CLI refuses it today).
        await MongoContacts(service.db).set(
            retailer, None, [f"ok@{domain}", "not an address"], datetime.now(UTC)
        )
        await admin.set_preferences(picky, ["outcome"], None)

        ghost = new_case(domain, 90, retailer=retailer)  # never submitted
        known = new_case(domain, 91, retailer=retailer)
        other = new_case(domain, 92, retailer=picky)
        await publish(producer, prefix, REPORTS_SUBMITTED, envelope(known.submitted))
        await publish(producer, prefix, REPORTS_SUBMITTED, envelope(other.submitted))
        ghost_event = await publish(
            producer, prefix, CASES_STATUS_CHANGED, envelope(ghost.move(CaseStatus.ROUTED))
        )
        await publish(
            producer, prefix, CASES_STATUS_CHANGED, envelope(known.move(CaseStatus.ROUTED))
        )
        await publish(
            producer, prefix, CASES_STATUS_CHANGED, envelope(other.move(CaseStatus.ROUTED))
        )
        await publish(
            producer,
            prefix,
            CASES_STATUS_CHANGED,
            envelope(other.move(CaseStatus.CRIME_RECORDED, crime_reference="CL-1")),
        )
        await publish(
            producer,
            prefix,
            CASES_STATUS_CHANGED,
            envelope(
                other.move(
                    CaseStatus.OUTCOME_RECORDED,
                    crime_reference="CL-1",
                    outcome=OutcomeKind.NO_FURTHER_ACTION,
                )
            ),
        )
        # The unknown report blocks nothing after it: the known one's emails arrive.
        await until(lambda: len(sink.mails(domain)) >= 3, 30, "emails after the unknown report")
        await asyncio.sleep(1.0)
        mails = sink.mails(domain)
        failed_event = await service.db["failed_events"].find_one(
            {"_id": str(ghost_event.event_id)}
        )
        invalid = await service.db["sent_emails"].find_one({"to": "not an address"})
        consumer_stopped = [c.halted for c in service.consumers]

    assert sorted((m.rcpt[0], m.subject) for m in mails) == sorted(
        [
            (
                f"manager.91@{domain}",
                f"Report {known.submitted.reference} received and passed to Durham Constabulary",
            ),
            (
                f"ok@{domain}",
                f"Report {known.submitted.reference} received and passed to Durham Constabulary",
            ),
            (
                f"manager.92@{domain}",
                f"Report {other.submitted.reference}: outcome - no further action",
            ),
        ]
    )
    assert failed_event is not None and failed_event["reason"] == "unknown_report"
    assert ghost.submitted.report_id in failed_event["detail"]
    assert invalid is not None and invalid["status"] == "failed"
    assert invalid["reason"] == "invalid_address"
    assert consumer_stopped == [False, False, False]
    letters = await dead_letters(stack_env, f"{prefix}{CASES_STATUS_CHANGED}.dlq", read_topic, 2)
    reasons = sorted(dict((k, v.decode()) for k, v in r.headers)["dlq-reason"] for r in letters)
    assert reasons == ["email_invalid_address", "unknown_report"]
    assert_no_leaks(mails)


async def test_refused_recipient_is_recorded_failed_and_the_others_get_theirs(
    stack_env: Any,
    prefix: str,
    domain: str,
    producer: AIOKafkaProducer,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
    read_topic: Any,
) -> None:
    port = free_port()
    refused, greylisted = f"left.the.company@{domain}", f"greylisted@{domain}"
    recorder = Recorder(refuse=[refused], defer={greylisted: 2})
    controller = start_smtp(recorder, port)
    retailer = f"ret-{secrets.token_hex(3)}"
    settings = settings_for(stack_env, prefix, mongo_db_name("refused"), smtp_port=port)
    failed_before = metric("shopwatch_emails_failed_total", reason="recipient_refused")
    retried_before = metric("shopwatch_emails_retried_total", reason="recipient_deferred")
    try:
        async with run_service(settings, wire) as service:
            await NotifyAdmin(service.db).set_contacts(
                retailer, None, [refused, greylisted, f"area.manager@{domain}"]
            )
            case = new_case(domain, 7, retailer=retailer)
            await publish(producer, prefix, REPORTS_SUBMITTED, envelope(case.submitted))
            routed = await publish(
                producer, prefix, CASES_STATUS_CHANGED, envelope(case.move(CaseStatus.ROUTED))
            )
            await until(lambda: len(recorder.mails) >= 3, 30, "three accepted emails")
            await asyncio.sleep(1.0)
            rows = {
                r["to"]: r
                async for r in service.db["sent_emails"].find({"event_id": str(routed.event_id)})
            }
    finally:
        controller.stop()

    delivered = sorted(m.rcpt[0] for m in recorder.mails)
    assert delivered == sorted([f"manager.7@{domain}", greylisted, f"area.manager@{domain}"])
    assert rows[refused]["status"] == "failed"
    assert rows[refused]["reason"] == "recipient_refused"
    assert "550" in rows[refused]["error"]
    assert {rows[a]["status"] for a in delivered} == {"sent"}
    assert rows[greylisted]["attempts"] == 3  # deferred twice (451), then accepted
    assert recorder.replies.count((refused, "550")) == 1  # refused once, never retried
    assert metric("shopwatch_emails_failed_total", reason="recipient_refused") == failed_before + 1
    assert (
        metric("shopwatch_emails_retried_total", reason="recipient_deferred") >= retried_before + 2
    )
    letters = await dead_letters(stack_env, f"{prefix}{CASES_STATUS_CHANGED}.dlq", read_topic, 1)
    headers = [dict((k, v.decode()) for k, v in r.headers) for r in letters]
    assert [(h["dlq-reason"], h["dlq-recipient"]) for h in headers] == [
        ("email_recipient_refused", refused)
    ]
    assert_no_leaks(recorder.mails)


async def test_smtp_outage_delays_but_loses_nothing(
    stack_env: Any,
    prefix: str,
    domain: str,
    producer: AIOKafkaProducer,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
) -> None:
    port = free_port()
    recorder = Recorder()
    retailer = f"ret-{secrets.token_hex(3)}"
    settings = settings_for(stack_env, prefix, mongo_db_name("outage"), smtp_port=port)
    retried_before = metric("shopwatch_emails_retried_total", reason="connection")
    async with run_service(settings, wire) as service:
        await NotifyAdmin(service.db).set_contacts(retailer, None, [f"head.office@{domain}"])
        cases = [new_case(domain, 31, retailer=retailer)]
        events = []
        for case in cases:
            await publish(producer, prefix, REPORTS_SUBMITTED, envelope(case.submitted))
            for status, extra in (
                (CaseStatus.ROUTED, {}),
                (CaseStatus.CRIME_RECORDED, {"crime_reference": "DHM-1"}),
                (CaseStatus.CLOSED, {"crime_reference": "DHM-1"}),
            ):
                change = envelope(case.move(status, **extra))
                events.append(await publish(producer, prefix, CASES_STATUS_CHANGED, change))
        # The server is down: notify keeps retrying, and nothing is lost or given up.
        await until(
            lambda: metric("shopwatch_emails_retried_total", reason="connection") > retried_before,
            15,
            "a retried send",
        )
        down_for = 6.0
        await asyncio.sleep(down_for)
        assert recorder.mails == []
        pending = await service.db["sent_emails"].count_documents({"status": "pending"})
        assert pending >= 1
        controller = start_smtp(recorder, port)  # the server comes back
        try:
            want = len(events) * 2
            await until(lambda: len(recorder.mails) >= want, 40, f"{want} emails after the outage")
            await asyncio.sleep(1.5)
        finally:
            controller.stop()
        statuses = [r["status"] async for r in service.db["sent_emails"].find({})]

    ids = [m.message_id for m in recorder.mails]
    assert len(ids) == len(set(ids)) == want
    expected = {
        message_id(str(e.event_id), rcpt, ID_DOMAIN)
        for e in events
        for rcpt in (f"head.office@{domain}", f"manager.{e.payload.reference[-2:]}@{domain}")
    }
    assert set(ids) == expected
    assert statuses.count("sent") == want
    assert metric("shopwatch_emails_retried_total", reason="connection") > retried_before
    assert_no_leaks(recorder.mails)


def process_env(settings: NotifySettings, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPWATCH_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"SHOPWATCH_{name.upper()}"] = str(value)
    env["SHOPWATCH_SERVICE_PORT"] = str(port)
    return env


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


@dataclass
class NotifyProcess:
    """`python -m shopwatch.notify` as deployed; its JSON logs go to a file (a pipe left
    unread would fill up and block the process in the middle of the test)."""

    process: asyncio.subprocess.Process
    log: Path

    @classmethod
    async def start(cls, env: dict[str, str], port: int, log: Path) -> NotifyProcess:
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "shopwatch.notify",
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def ready() -> bool:
                assert process.returncode is None, tail(log)
                try:
                    return (await client.get("/health/ready", timeout=2)).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, 30, "notify to be ready", step=0.2)
        return cls(process, log)

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout=20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def test_restart_in_the_middle_of_a_burst_sends_no_duplicate(
    stack_env: Any,
    prefix: str,
    domain: str,
    producer: AIOKafkaProducer,
    sink: SinkFolder,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
    tmp_path: Path,
) -> None:
    retailer = f"ret-{secrets.token_hex(3)}"
    database = mongo_db_name("restart")
    settings = settings_for(stack_env, prefix, database)
    port = free_port()
    env = process_env(settings, port)
    log = tmp_path / "notify.log"
    process = await NotifyProcess.start(env, port, log)
    try:
        # Contacts through the same database the process uses.
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            stack_env.mongo_url, tz_aware=True
        )
        try:
            await NotifyAdmin(client[database]).set_contacts(retailer, None, [f"hq@{domain}"])
        finally:
            await client.close()

        cases = [new_case(domain, n, retailer=retailer) for n in range(100, 108)]
        for case in cases:
            await publish(producer, prefix, REPORTS_SUBMITTED, envelope(case.submitted))
        events = []
        for status in (CaseStatus.ROUTED, CaseStatus.CLOSED):
            for case in cases:
                events.append(envelope(case.move(status)))
        for event in events:
            await publish(producer, prefix, CASES_STATUS_CHANGED, event)
        want = len(events) * 2

        await until(lambda: len(sink.mails(domain)) >= 4, 30, "the burst to start")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            metrics_at_stop = (await http.get("/metrics")).text
        await process.stop()  # SIGTERM in the middle of the burst
        stopped_at = datetime.now(UTC)
        at_stop = len(sink.mails(domain))
        assert at_stop < want, "the burst finished before the restart; make it bigger"
        # Restarted here rather than as a second process: the same Service start and
        # wiring as `python -m shopwatch.notify`, without paying its start-up again.
        async with run_service(settings, wire) as service:
            await until(lambda: len(sink.mails(domain)) >= want, 40, f"all {want} emails")
            await asyncio.sleep(1.5)  # a duplicate would show up now
            mails = sink.mails(domain)
            sent_after_restart = await service.db["sent_emails"].count_documents(
                {"status": "sent", "sent_at": {"$gt": stopped_at}}
            )
    finally:
        await process.stop()

    ids = [m.message_id for m in mails]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"{len(duplicates)} duplicates; stopped at {at_stop} of {want}"
    expected = {
        message_id(str(e.event_id), rcpt, ID_DOMAIN)
        for e in events
        for rcpt in (f"hq@{domain}", f"manager.{e.payload.reference[-3:]}@{domain}")
    }
    assert set(ids) == expected
    assert sent_after_restart == want - at_stop
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    # The process stopped cleanly, and its metrics counted what it sent.
    assert any("notify stopped" in line["message"] for line in lines)
    sent_before = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics_at_stop.splitlines()
        if line.startswith("shopwatch_emails_sent_total{")
    )
    assert 0 < sent_before <= at_stop
    assert_no_leaks(mails)


async def test_a_pending_email_left_by_a_dead_sender_is_resent_once_with_its_message_id(
    stack_env: Any, domain: str, mongo_db_name: Callable[[str], str], run_service: Any
) -> None:
    """The crash the SIGTERM test cannot show: rows written pending, then the process died.

    One row's lease has run out (its sender is gone): resent at once, same Message-ID.
    The other's lease is still running (a sender that may be alive): left alone until
    the lease ends, then resent.
    """
    port = free_port()
    recorder = Recorder()
    controller = start_smtp(recorder, port)
    database = mongo_db_name("crashed")
    settings = settings_for(stack_env, "tn-unused", database, smtp_port=port)
    now = datetime.now(UTC)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url, tz_aware=True)
    ledger = MongoSentEmails(client[database])
    rows = {}
    for name, lease_s in (("dead", -1.0), ("alive", 3.0)):
        email = OutgoingEmail(
            message_id=message_id(f"event-{name}", f"{name}@{domain}", ID_DOMAIN),
            to=f"{name}@{domain}",
            subject=f"Report SW-1: case closed ({name})",
            text="plain",
            html="<p>html</p>",
            template="closed",
            created_at=now - timedelta(seconds=30),
            report_id="rep-1",
        )
        inserted = await ledger.claim_new(
            [email],
            lease_until=now + timedelta(seconds=lease_s),
            event_id=f"event-{name}",
            retailer_id="ret-1",
        )
        assert inserted == {email.message_id}
        rows[name] = email
    await client.close()
    try:
        async with run_service(settings, lambda service: _sweeper_only(service)) as service:
            await until(lambda: len(recorder.mails) >= 1, 10, "the dead sender's email")
            first = time.monotonic()
            await until(lambda: len(recorder.mails) >= 2, 15, "the other after its lease")
            waited = time.monotonic() - first
            await asyncio.sleep(1.5)
            final = {r["_id"]: r async for r in service.db["sent_emails"].find({})}
    finally:
        controller.stop()
    assert [m.message_id for m in recorder.mails] == [
        rows["dead"].message_id,
        rows["alive"].message_id,
    ]
    assert waited >= 1.0  # the live lease was respected
    assert {r["status"] for r in final.values()} == {"sent"}
    assert {r["attempts"] for r in final.values()} == {2}


def _sweeper_only(service: Service[NotifySettings]) -> None:
    """The service's sweeper on its database, without consumers (no topics needed)."""
    notify = build_service(service.settings, service.db, None)
    loop = sweeper(notify, service.settings.sweep_interval_s)
    service.on_startup(loop.start)
    service.on_shutdown(loop.stop)


async def test_digest_sends_one_summary_per_recipient_per_day(
    stack_env: Any,
    prefix: str,
    domain: str,
    producer: AIOKafkaProducer,
    sink: SinkFolder,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
) -> None:
    retailer = f"ret-{secrets.token_hex(3)}"
    database = mongo_db_name("digest")
    settings = settings_for(stack_env, prefix, database)
    async with run_service(settings, wire) as service:
        admin = NotifyAdmin(service.db)
        await admin.set_preferences(retailer, None, "digest")
        await admin.set_contacts(retailer, None, [f"regional@{domain}"])
        cases = [new_case(domain, n, retailer=retailer) for n in (51, 52)]
        for case in cases:
            await publish(producer, prefix, REPORTS_SUBMITTED, envelope(case.submitted))
            await publish(
                producer, prefix, CASES_STATUS_CHANGED, envelope(case.move(CaseStatus.ROUTED))
            )

        async def queued() -> bool:
            count: int = await service.db["digest_items"].count_documents({})
            return count >= 4

        await until(queued, 20, "4 digest items")
        assert sink.mails(domain) == []  # digest mode: nothing sent at once

    # The command as cron would run it (in a thread: it runs its own event loop), then
    # once more: the second run sends nothing.
    env = process_env(settings, free_port())
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if name.startswith("SHOPWATCH_"):
                patch.setenv(name, value)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = await asyncio.to_thread(digest_main, ["--day", "today"])
    assert code == 0 and "3 summaries sent" in output.getvalue(), output.getvalue()
    assert await run_digest(datetime.now(UTC).date(), settings) == (0, 0)
    await until(lambda: len(sink.mails(domain)) >= 3, 10, "three digests")
    await asyncio.sleep(0.5)
    mails = sink.mails(domain)
    by_rcpt = {m.rcpt[0]: m for m in mails}
    assert len(mails) == 3 and set(by_rcpt) == {
        f"regional@{domain}",
        f"manager.51@{domain}",
        f"manager.52@{domain}",
    }
    regional = by_rcpt[f"regional@{domain}"]
    assert regional.subject.startswith("Shopwatch daily summary for ")
    assert regional.subject.endswith(": 2 updates")
    for case in cases:
        assert case.submitted.reference in regional.part("plain")
        assert case.submitted.reference in regional.part("html")
    assert by_rcpt[f"manager.51@{domain}"].subject.endswith(": 1 update")
    assert_no_leaks(mails)
