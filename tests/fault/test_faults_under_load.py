"""Issue #10, faults: during a steady stream of reports, every service is killed with
SIGKILL and restarted, the Kafka broker is restarted, S3 and FerretDB are stopped for
30 s each and the SMTP server for 20 s. Afterwards:

- every report answered 202 is on its force topic as a case, exactly once (no package
  of a case twice);
- every status change produced exactly one email per recipient;
- nothing is left in any service's outbox (nor pending in notify's email ledger);
- the DLQs hold exactly the messages poisoned on purpose, once per consuming service.

The counts and the recovery time of each fault are printed and written to
bench/RESULTS-faults.md. Recovery time: from the moment the service or server is back
until every report accepted so far is on its force topic (for notify and SMTP: until
every such report's first email is in the mailbox).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient

from bench.common import machine_info, machine_line, markdown_table, update_section
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.notify.admin import NotifyAdmin
from shopwatch.notify.config import NotifySettings
from shopwatch.schemas.topics import (
    CASES_STATUS_CHANGED,
    EVIDENCE_STORED,
    REPORTS_SUBMITTED,
    topic,
)
from tests.fault import audit, outages
from tests.fault.processes import SERVICES, ServiceProcesses
from tests.fault.traffic import EvidenceStream, ForceDesk, ReportStream
from tests.media_fixtures import jpeg_still

pytestmark = [pytest.mark.e2e, pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(1200)]

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "RESULTS-faults.md"
COMMAND = "flock -x /tmp/shopwatch-stack.lock uv run pytest tests/fault -q -s"
RATE_PER_S = float(os.environ.get("SHOPWATCH_FAULT_RATE", "2"))
OUTAGE_S = float(os.environ.get("SHOPWATCH_FAULT_OUTAGE_S", "30"))
SMTP_OUTAGE_S = 20.0
# For working on one fault: SHOPWATCH_FAULT_ONLY=ferretdb,notify (default: all of them).
ONLY = (
    set(os.environ["SHOPWATCH_FAULT_ONLY"].split(","))
    if os.environ.get("SHOPWATCH_FAULT_ONLY") is not None
    else None
)
RECOVERY_BOUND_S = 150.0
SETTLE_BOUND_S = 300.0
STORES = {"durham": "DH1 3NJ", "cleveland": "TS1 1RE"}


@dataclass
class World:
    api_key: str
    stores: dict[str, str]
    domain: str
    contact: str


async def make_world(services: ServiceProcesses, mongo_url: str) -> World:
    domain = f"f{secrets.token_hex(3)}.fault.example"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        admin = IntakeAdmin(MongoTenants(client[services.databases["intake"]]))
        retailer, key = await admin.add_retailer("Faultmart")
        stores = {}
        for force, postcode in STORES.items():
            store = await admin.add_store(
                retailer.retailer_id,
                name=f"Faultmart {force}",
                address_lines=["1 High St"],
                town="Town",
                postcode=postcode,
            )
            stores[force] = store.store_id
        # A second recipient for every email: "one email per recipient" means two here.
        contact = f"loss-prevention@{domain}"
        await NotifyAdmin(client[services.databases["notify"]]).set_contacts(
            retailer.retailer_id, None, [contact]
        )
    finally:
        await client.close()
    return World(key.api_key, stores, domain, contact)


POISON = {
    REPORTS_SUBMITTED: b'{"event_id": "not json at all',
    CASES_STATUS_CHANGED: json.dumps(
        {"event_type": "case.status_changed", "schema_version": 99, "payload": {}}
    ).encode(),
}


async def publish_poison(bootstrap: str, prefix: str) -> set[bytes]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for name, value in POISON.items():
            await producer.send_and_wait(f"{prefix}{name}", value, key=b"poison")
    finally:
        await producer.stop()
    return set(POISON.values())


@dataclass
class Fault:
    name: str
    started: float  # time.monotonic() when the fault began
    recovery_s: float | None  # None: not recovered within the bound
    during_s: float  # how long the fault lasted (kill to ready, or the outage)
    accepted_before: int


class Scenario:
    def __init__(
        self,
        services: ServiceProcesses,
        stream: ReportStream,
        desk: ForceDesk,
        mailbox: audit.MailBox,
    ) -> None:
        self.services, self.stream, self.desk, self.mailbox = services, stream, desk, mailbox
        self.faults: list[Fault] = []

    def routed_all(self, ids: set[str]) -> Callable[[], bool]:
        return lambda: ids <= self.desk.first_seen.keys()

    def mailed_all(self, ids: set[str]) -> Callable[[], bool]:
        def check() -> bool:
            received = {m.report_id for m in self.mailbox.read() if m.template == "received"}
            return ids <= received

        return check

    async def measure(self, name: str, started: float, mail: bool = False) -> None:
        back = time.monotonic()
        ids = {s.report_id for s in self.stream.accepted() if s.report_id}
        check = self.mailed_all(ids) if mail else self.routed_all(ids)
        recovery: float | None = None
        while time.monotonic() - back < RECOVERY_BOUND_S:
            if await asyncio.to_thread(check):
                recovery = time.monotonic() - back
                break
            await asyncio.sleep(0.5)
        self.faults.append(Fault(name, started, recovery, back - started, len(ids)))
        shown = f"{recovery:.1f} s" if recovery is not None else f"NOT within {RECOVERY_BOUND_S}s"
        print(f"  {name}: lasted {back - started:.1f} s, recovered in {shown}", flush=True)

    async def kill_service(self, service: str) -> None:
        started = time.monotonic()
        self.services.kill9(service)
        await asyncio.sleep(2)  # a moment of absence, as before a supervisor restarts it
        self.services.start(service)
        await asyncio.to_thread(self.services.wait_ready, service)
        await self.measure(f"kill -9 {service}", started, mail=service == "notify")

    async def server_down(self, name: str, seconds: float) -> None:
        started = time.monotonic()
        await asyncio.to_thread(outages.stop_for, name, seconds)
        await self.measure(f"{name} stopped {seconds:.0f} s", started, mail=name == "smtp")

    async def restart_server(self, name: str) -> None:
        started = time.monotonic()
        await asyncio.to_thread(outages.restart, name)
        await self.measure(f"{name} restarted", started)


async def explain_unsettled(
    stack_env: Any,
    services: ServiceProcesses,
    desk_task: asyncio.Task[None],
    desk: ForceDesk,
    evidence: EvidenceStream,
) -> list[str]:
    """What a failure message needs beyond the counts: where the missing pieces stopped."""
    lines = []
    if desk_task.done():
        lines.append(f"the force desk stopped: {desk_task.exception()!r}")
    stored = {u.evidence_id for u in evidence.uploads if u.status == "stored" and u.evidence_id}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url)
    try:
        lines += await audit.trace_evidence(
            stack_env.kafka_bootstrap,
            f"{services.prefix}{EVIDENCE_STORED}",
            desk.topics(),
            stored - desk.evidence_seen,
            client[services.databases["routing"]]["cases"],
        )
    finally:
        await client.close()
    return lines


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(1)
    return False


async def test_every_accepted_report_survives_the_faults(
    services: ServiceProcesses, stack_env: Any, tmp_path: Path
) -> None:
    begun = time.monotonic()
    world = await make_world(services, stack_env.mongo_url)
    poison = await publish_poison(stack_env.kafka_bootstrap, services.prefix)
    stream = ReportStream(
        services.url("intake"), world.api_key, world.stores, world.domain, RATE_PER_S
    )
    desk = ForceDesk(stack_env.kafka_bootstrap, services.prefix, sorted(world.stores))
    evidence = EvidenceStream(
        services.url("evidence"), world.api_key, jpeg_still(tmp_path / "till.jpg")
    )
    mailbox = audit.MailBox(Path(stack_env.smtp_store), world.domain)
    scenario = Scenario(services, stream, desk, mailbox)
    stop, desk_stop = asyncio.Event(), asyncio.Event()

    async def feed_evidence() -> None:
        done: set[str] = set()
        while not stop.is_set():
            for sub in stream.accepted():
                if sub.n % 10 == 0 and sub.report_id and sub.report_id not in done:
                    done.add(sub.report_id)
                    evidence.add(sub.report_id)
            await asyncio.sleep(1)

    background = [
        asyncio.create_task(stream.run(stop), name="reports"),
        asyncio.create_task(desk.run(desk_stop), name="force desk"),
        asyncio.create_task(feed_evidence(), name="evidence"),
    ]
    try:
        await asyncio.sleep(10)  # steady state first
        print(f"\nfaults, {RATE_PER_S:g} reports/s:", flush=True)
        steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            *((service, partial(scenario.kill_service, service)) for service in SERVICES),
            ("kafka", partial(scenario.restart_server, "kafka")),
            ("s3", partial(scenario.server_down, "s3", OUTAGE_S)),
            ("ferretdb", partial(scenario.server_down, "ferretdb", OUTAGE_S)),
            ("smtp", partial(scenario.server_down, "smtp", SMTP_OUTAGE_S)),
        ]
        for name, step in steps:
            if ONLY is None or name in ONLY:
                await step()
        await asyncio.sleep(5)  # a little traffic after the last fault
    finally:
        stop.set()
        await asyncio.wait(background[::2], timeout=300)  # the stream's clients finish
        await evidence.wait(timeout_s=300)

    # --- after recovery ------------------------------------------------------------------
    accepted = {s.report_id for s in stream.accepted() if s.report_id}
    recipients = {
        s.report_id: [s.reporter, world.contact] for s in stream.accepted() if s.report_id
    }
    id_domain = NotifySettings().id_domain
    status_topic = f"{services.prefix}{CASES_STATUS_CHANGED}"

    # What the system still owes, in words: CI shows only the assertion message of a
    # failure, so "did not settle" has to say what it was waiting for.
    unsettled: list[str] = []

    async def settled() -> bool:
        unsettled.clear()
        unseen = accepted - desk.first_seen.keys()
        if unseen:
            unsettled.append(f"{len(unseen)} accepted reports not on a force topic")
        stored_ids = {u.evidence_id for u in evidence.uploads if u.status == "stored"}
        if not stored_ids <= desk.evidence_seen:
            unsettled.append(f"{len(stored_ids - desk.evidence_seen)} stored evidence unseen")
        records = await audit.read_to_end(stack_env.kafka_bootstrap, [status_topic])
        mails = await asyncio.to_thread(mailbox.read)
        emails = audit.count_emails(records, accepted, recipients, mails, id_domain)
        if emails.missing:
            unsettled.append(f"{len(emails.missing)} emails unsent, e.g. {emails.missing[:2]}")
        pending = await audit.pending_outboxes(stack_env.mongo_url, services.databases)
        if pending:
            unsettled.append(f"outboxes pending {pending}")
        return not unsettled

    # 300 s: a slower CI machine took longer than 180 s once (cause not shown then; the
    # message below now names what was outstanding). Time spent is printed either way.
    settle_began = time.monotonic()
    drained = await wait_for(settled, timeout_s=SETTLE_BOUND_S)
    settle_s = time.monotonic() - settle_began
    print(f"\nsettled after the last fault in {settle_s:.0f} s: {drained}", flush=True)
    if not drained:
        unsettled += await explain_unsettled(stack_env, services, background[1], desk, evidence)
    desk_stop.set()
    await asyncio.wait([background[1]], timeout=130)  # answers in flight are sent first
    # Those last answers are status changes made after the first settle: wait for their
    # emails too, or they count as missing (seen in CI: 2 of 1,062, sent moments later).
    drained = drained and await wait_for(settled, timeout_s=120)

    force_topics = desk.topics()
    cases = audit.count_cases(
        accepted, await audit.read_to_end(stack_env.kafka_bootstrap, force_topics)
    )
    status_records = await audit.read_to_end(stack_env.kafka_bootstrap, [status_topic])
    emails = audit.count_emails(
        status_records, accepted, recipients, await asyncio.to_thread(mailbox.read), id_domain
    )
    outbox = await audit.pending_outboxes(stack_env.mongo_url, services.databases)
    dlq_topics = [
        t
        for t in await audit.topics_with_prefix(stack_env.kafka_bootstrap, services.prefix)
        if t.endswith(".dlq")
    ]
    dlq = audit.count_dead_letters(
        await audit.read_to_end(stack_env.kafka_bootstrap, dlq_topics), poison
    )
    expected_poisoned = {
        (f"{services.prefix}{name}.dlq", f"{services.prefix}{service}.{name}")
        for name in POISON
        for service in topic(name).consumers
    }
    stored = [u for u in evidence.uploads if u.status == "stored"]

    report = results_markdown(
        scenario.faults,
        stream,
        cases,
        emails,
        outbox,
        dlq,
        evidence_counts=(len(evidence.uploads), len(stored), len(desk.evidence_seen)),
        updates=len(desk.updates_sent),
        took_s=time.monotonic() - begun,
    )
    print(report, flush=True)
    print(diagnostics(scenario, cases, dlq, evidence), flush=True)
    update_section(RESULTS, "faults", report, title="Shopwatch under faults")

    rejected = [s.status for s in stream.submissions if s.status.startswith("rejected")]
    assert not rejected, f"reports refused with a 4xx during the faults: {rejected[:3]}"
    assert drained, (
        f"the system did not settle within {SETTLE_BOUND_S:.0f} s after the last fault: "
        f"{'; '.join(unsettled)}"
        f"; faults: {[(f.name, f.recovery_s) for f in scenario.faults]}"
    )
    assert not cases.missing, f"{len(cases.missing)} accepted reports never reached a force"
    assert not cases.decided_twice, f"one change announced twice: {cases.decided_twice[:5]}"
    # A package sent again with the same event_id (the relay died, or the broker went
    # away, between delivery and clearing its outbox entry) is at-least-once on the wire
    # by design (runtime/relay.py); consumers drop it by event_id. It is counted and
    # reported, not failed: what must never happen is one change announced twice.
    assert all(times == 1 for times in cases.first_packages.values())
    assert not emails.missing, f"{len(emails.missing)} emails never sent: {emails.missing[:3]}"
    assert not emails.duplicates, f"emails sent twice: {emails.duplicates[:5]}"
    assert not emails.same_notice_twice, f"one notice twice: {emails.same_notice_twice[:5]}"
    assert not outbox, f"entries stuck in outboxes: {outbox}"
    assert not dlq.unexpected, f"dead letters nobody poisoned: {dlq.unexpected[:5]}"
    # Every consumer the registry names dead-lettered each poison once (evidence also
    # reads cases.status-changed without being listed there, hence <=).
    assert expected_poisoned <= set(dlq.poisoned), dlq.poisoned
    assert all(times == 1 for times in dlq.poisoned.values()), dlq.poisoned
    assert len(stored) == len(evidence.uploads), [
        (u.status, u.last_error) for u in evidence.uploads if u.status != "stored"
    ]
    assert {u.evidence_id for u in stored} <= desk.evidence_seen
    slow = [f.name for f in scenario.faults if f.recovery_s is None]
    assert not slow, f"not recovered within {RECOVERY_BOUND_S} s: {slow}"


def diagnostics(
    scenario: Scenario, cases: audit.CaseCounts, dlq: audit.DlqCounts, evidence: EvidenceStream
) -> str:
    """What went wrong, where: repeated packages against the fault windows, dead letters
    nobody poisoned, uploads that did not end stored."""
    lines = []
    offset = time.time() - time.monotonic()  # broker timestamps are wall-clock
    for key, stamps in sorted(cases.copies_at.items()):
        during = [
            f.name
            for f in scenario.faults
            for at in stamps
            if f.started + offset - 5 <= at <= f.started + offset + f.during_s + 60
        ]
        lines.append(f"  package {key} x{len(stamps)} near: {sorted(set(during)) or 'no fault'}")
    lines += [
        f"  dead letter {dlq_name} from {group} ({reason}): {error}"
        for dlq_name, group, reason, error in dlq.unexpected
    ]
    lines += [
        f"  upload for {u.report_id}: {u.status} after {u.attempts} attempt(s), {u.last_error}"
        for u in evidence.uploads
        if u.status != "stored"
    ]
    return "diagnostics:\n" + "\n".join(lines) if lines else "diagnostics: nothing unexpected"


def results_markdown(
    faults: list[Fault],
    stream: ReportStream,
    cases: audit.CaseCounts,
    emails: audit.EmailCounts,
    outbox: dict[str, int],
    dlq: audit.DlqCounts,
    *,
    evidence_counts: tuple[int, int, int],
    updates: int,
    took_s: float,
) -> str:
    uploads, stored, on_topic = evidence_counts
    answers = ", ".join(f"{k} x{v}" for k, v in sorted(stream.retried_answers.items())) or "none"
    abandoned = sum(1 for s in stream.submissions if s.status == "abandoned")
    counts = markdown_table(
        ["what", "count"],
        [
            ["reports sent", len(stream.submissions)],
            ["accepted (202)", cases.accepted],
            ["given up by the client (no 202 within 240 s)", abandoned],
            ["answers retried by the clients (same Idempotency-Key)", answers],
            ["accepted and routed to a force topic", cases.routed],
            ["accepted, never routed", len(cases.missing)],
            ["case packages on the force topics", cases.packages],
            ["packages on the topic twice (same event_id, sent again)", len(cases.redelivered)],
            ["packages decided twice (different event_ids)", len(cases.decided_twice)],
            ["crime_recorded updates sent by the forces", updates],
            ["status changes emailed", emails.status_changes],
            ["emails expected (status changes x 2 recipients)", emails.expected],
            ["emails delivered", emails.delivered],
            ["emails missing", len(emails.missing)],
            ["emails duplicated (same Message-ID)", len(emails.duplicates)],
            ["same notice twice (report, template, recipient)", len(emails.same_notice_twice)],
            ["evidence uploads / stored / on a force topic", f"{uploads} / {stored} / {on_topic}"],
            ["outbox entries pending after recovery", sum(outbox.values())],
            ["DLQ entries", dlq.entries],
            ["DLQ entries poisoned on purpose", sum(dlq.poisoned.values())],
            ["DLQ entries not poisoned", len(dlq.unexpected)],
        ],
    )
    recovery = markdown_table(
        ["fault", "lasted (s)", "accepted so far", "recovery (s)"],
        [
            [
                f.name,
                f"{f.during_s:.1f}",
                f.accepted_before,
                f"{f.recovery_s:.1f}" if f.recovery_s is not None else "not recovered",
            ]
            for f in faults
        ],
    )
    return (
        f"## Faults under a steady stream ({RATE_PER_S:g} reports/s)\n\n"
        f"Command: `{COMMAND}` ({took_s / 60:.1f} min).\n"
        f"Machine: {machine_line(machine_info())}.\n\n"
        f"{counts}\n\n"
        "Recovery: from the service being ready again (or the server back) until every "
        "report accepted so far is on its force topic; for notify and SMTP, until each has "
        "its first email.\n\n"
        f"{recovery}\n"
    )
