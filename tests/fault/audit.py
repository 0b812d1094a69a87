"""After the faults: what the topics, the mailbox and the databases say, as counts.

Each function reads the real thing (Kafka from the beginning to the end offsets seen
when it started, the SMTP sink's .eml files, every collection of every service
database) and returns plain numbers and lists for the test to assert on and report.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient

from shopwatch.notify.domain import STATUS_KINDS, message_id
from shopwatch.runtime.dlq import H_CONSUMER_GROUP, H_ERROR_MESSAGE, H_ERROR_TYPE, H_REASON
from shopwatch.runtime.outbox import PENDING_FILTER
from shopwatch.schemas.case_status import CaseStatus

Record = Any


async def read_to_end(bootstrap: str, topics: list[str], timeout_s: float = 60) -> list[Record]:
    """Every record of `topics`, from the start up to the end offsets of now."""
    if not topics:
        return []
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        # Without a group, the consumer assigns itself every partition once it has the
        # topics' metadata.
        deadline = time.monotonic() + timeout_s
        while {tp.topic for tp in consumer.assignment()} != set(topics):
            if time.monotonic() > deadline:
                raise AssertionError(f"no metadata for {topics} within {timeout_s} s")
            await asyncio.sleep(0.1)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Record] = []
        left = {tp for tp, end in ends.items() if end > 0}
        while left and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, rs in batch.items():
                records.extend(r for r in rs if r.offset < ends[tp])
                if rs and rs[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
        if left:
            raise AssertionError(f"could not read {sorted(map(str, left))} to the end in time")
        return records
    finally:
        await consumer.stop()


async def topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()


# --- cases on the force topics -----------------------------------------------------------


@dataclass
class CaseCounts:
    accepted: int
    routed: int  # accepted reports whose case reached a force topic
    missing: list[str]  # accepted, never on a force topic
    # The same package (case, sequence) more than once: `redelivered` when every copy
    # carries one event_id (the outbox relay sent it again), `decided_twice` when they
    # are different events (the case was changed twice for one cause: worse).
    redelivered: list[tuple[str, int, int]]  # (case, sequence, copies)
    decided_twice: list[tuple[str, int, int]]  # (case, sequence, distinct events)
    first_packages: dict[str, int]  # case -> distinct sequence-1 events
    packages: int  # records
    copies_at: dict[tuple[str, int], list[float]]  # broker timestamps (s) of repeats
    not_accepted_but_routed: int  # given up by the client after the server took it


def count_cases(accepted_ids: set[str], records: list[Record]) -> CaseCounts:
    copies: Counter[tuple[str, int]] = Counter()
    events: dict[tuple[str, int], set[str]] = {}
    stamps: dict[tuple[str, int], list[float]] = {}
    for record in records:
        event = json.loads(record.value)
        if event.get("event_type") == "case.routed":
            key = (event["payload"]["case_id"], int(event["payload"]["sequence"]))
            copies[key] += 1
            events.setdefault(key, set()).add(event["event_id"])
            stamps.setdefault(key, []).append(record.timestamp / 1000)
    cases = {case for case, _ in copies}
    return CaseCounts(
        accepted=len(accepted_ids),
        routed=len(accepted_ids & cases),
        missing=sorted(accepted_ids - cases),
        redelivered=sorted(
            (c, s, n) for (c, s), n in copies.items() if n > 1 and len(events[(c, s)]) == 1
        ),
        decided_twice=sorted((c, s, len(ids)) for (c, s), ids in events.items() if len(ids) > 1),
        first_packages={c: len(ids) for (c, s), ids in events.items() if s == 1},
        packages=sum(copies.values()),
        copies_at={k: v for k, v in stamps.items() if len(v) > 1},
        not_accepted_but_routed=len(cases - accepted_ids),
    )


# --- emails --------------------------------------------------------------------------------


@dataclass
class Mail:
    message_id: str
    to: str
    report_id: str
    template: str


def read_mail(store: Path, domain: str) -> list[Mail]:
    """Every message the SMTP sink accepted for an address in `domain` (headers only)."""
    return MailBox(store, domain).read()


@dataclass
class EmailCounts:
    status_changes: int  # distinct status-change events of our reports that are emailed
    expected: int  # status changes x recipients
    delivered: int  # .eml files for our domain
    missing: list[str] = field(default_factory=list)  # expected Message-IDs never delivered
    duplicates: list[tuple[str, int]] = field(default_factory=list)  # Message-ID, times
    same_notice_twice: list[tuple[str, str, str, int]] = field(default_factory=list)
    unexpected: int = 0  # delivered, not derived from a status change we saw


def count_emails(
    status_records: list[Record],
    report_ids: set[str],
    recipients_of: dict[str, list[str]],
    mails: list[Mail],
    id_domain: str,
) -> EmailCounts:
    events: dict[str, dict[str, Any]] = {}
    for record in status_records:
        event = json.loads(record.value)
        payload = event.get("payload") or {}
        if payload.get("report_id") in report_ids:
            events[event["event_id"]] = payload  # the relay may send one twice: same id
    expected: set[str] = set()
    emailed = 0
    for event_id, change in events.items():
        if CaseStatus(change["status"]) not in STATUS_KINDS:
            continue
        emailed += 1
        for to in recipients_of[change["report_id"]]:
            expected.add(message_id(event_id, to, id_domain))
    by_id = Counter(m.message_id for m in mails)
    by_notice = Counter((m.report_id, m.template, m.to) for m in mails)
    return EmailCounts(
        status_changes=emailed,
        expected=len(expected),
        delivered=len(mails),
        missing=sorted(expected - set(by_id)),
        duplicates=sorted((mid, n) for mid, n in by_id.items() if n > 1),
        same_notice_twice=sorted((*key, n) for key, n in by_notice.items() if n > 1),
        unexpected=len(set(by_id) - expected),
    )


# --- outboxes --------------------------------------------------------------------------------


async def pending_outboxes(mongo_url: str, databases: dict[str, str]) -> dict[str, int]:
    """`service.collection` -> documents with outbox entries not yet on Kafka, plus notify's
    emails still pending (its outbox towards SMTP)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    found: dict[str, int] = {}
    try:
        for service, name in databases.items():
            db = client[name]
            for collection in await db.list_collection_names():
                count = await db[collection].count_documents(PENDING_FILTER)
                if count:
                    found[f"{service}.{collection}"] = count
        pending_mail = await client[databases["notify"]]["sent_emails"].count_documents(
            {"status": "pending"}
        )
        if pending_mail:
            found["notify.sent_emails(pending)"] = pending_mail
    finally:
        await client.close()
    return found


# --- dead letters ------------------------------------------------------------------------------


@dataclass
class DlqCounts:
    entries: int
    poisoned: Counter[tuple[str, str]]  # (dlq topic, consumer group) -> deliberate ones
    # (dlq topic, consumer group, reason, error type: message): CI shows only the
    # assertion message, so it has to say who gave up on what, and why.
    unexpected: list[tuple[str, str, str, str]]


def count_dead_letters(records: list[Record], poison: set[bytes]) -> DlqCounts:
    poisoned: Counter[tuple[str, str]] = Counter()
    unexpected = []
    for record in records:
        headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
        if record.value in poison:
            poisoned[(record.topic, headers.get(H_CONSUMER_GROUP, "?"))] += 1
        else:
            error = f"{headers.get(H_ERROR_TYPE, '?')}: {headers.get(H_ERROR_MESSAGE, '')[:300]}"
            unexpected.append(
                (
                    record.topic,
                    headers.get(H_CONSUMER_GROUP, "?"),
                    headers.get(H_REASON, "?"),
                    error,
                )
            )
    return DlqCounts(entries=len(records), poisoned=poisoned, unexpected=unexpected)


class MailBox:
    """`read_mail`, parsing each file once (recovery checks poll it many times)."""

    def __init__(self, store: Path, domain: str) -> None:
        self.store, self.domain = store, domain
        self._parsed: dict[str, Mail | None] = {}
        self._parser = BytesHeaderParser()

    def read(self) -> list[Mail]:
        for path in self.store.glob("*.eml"):
            if path.name not in self._parsed:
                self._parsed[path.name] = self._parse(path)
        return [m for m in self._parsed.values() if m is not None]

    def _parse(self, path: Path) -> Mail | None:
        with path.open("rb") as handle:
            headers = self._parser.parse(handle)
        to = str(headers.get("To", "")).strip().lower()
        if not to.endswith("@" + self.domain):
            return None
        return Mail(
            message_id=str(headers.get("Message-ID", "")).strip(),
            to=to,
            report_id=str(headers.get("X-Shopwatch-Report-Id", "")),
            template=str(headers.get("X-Shopwatch-Template", "")),
        )


async def trace_evidence(
    bootstrap: str,
    stored_topic: str,
    force_topics: list[str],
    evidence_ids: set[str],
    routing_cases: Any,
) -> list[str]:
    """Where each of `evidence_ids` got to: announced by evidence, packaged by routing.

    For a failure message: "stored evidence unseen" alone does not say whether evidence
    never announced it, routing never packaged it, or the force desk missed the package.
    """
    if not evidence_ids:
        return []
    announced = {
        json.loads(r.value)["payload"].get("evidence_id")
        for r in await read_to_end(bootstrap, [stored_topic])
    }
    packaged: set[str] = set()
    for record in await read_to_end(bootstrap, force_topics):
        payload = json.loads(record.value).get("payload") or {}
        packaged.update(e.get("evidence_id") for e in payload.get("evidence") or [])
    in_cases = {
        e.get("evidence_id")
        # All of them (a few hundred cases): FerretDB 1.x does not follow a dotted path
        # into an array, so a filter on the evidence ids would find nothing.
        async for doc in routing_cases.find({}, {"case.evidence": 1})
        for e in (doc.get("case") or {}).get("evidence") or []
    }
    return [
        f"{evidence_id}: on {stored_topic} {evidence_id in announced}, "
        f"in routing's case {evidence_id in in_cases}, "
        f"in a force package {evidence_id in packaged}"
        for evidence_id in sorted(evidence_ids)
    ]
