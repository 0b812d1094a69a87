"""Poison messages on every topic a service consumes: each ends in `<topic>.dlq` with its
reason, once per consumer group, and the good message behind it is still processed.

All five services run in this process on the real stack, wired as in production, so the
topics under test are the ones the wiring really subscribes to (not what the registry
says): a test below fails if a service consumes a topic this module does not poison.

Per topic, in this order on its one partition: bytes that are not JSON, bytes that are
not UTF-8, the good event with `schema_version` 2, the good event padded to just under
what the broker accepts (1 MiB), the good event naming a force that does not exist (where
the event carries a force), and then the good event itself. Routing reads all 46 forces'
updates topics with the same consumer code; three of them are poisoned here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

from shopwatch.evidence.app import wire as wire_evidence
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.intake.app import wire as wire_intake
from shopwatch.intake.config import IntakeSettings
from shopwatch.matching.app import wire as wire_matching
from shopwatch.matching.config import MatchingSettings
from shopwatch.notify.app import wire as wire_notify
from shopwatch.notify.config import NotifySettings
from shopwatch.routing.app import wire as wire_routing
from shopwatch.routing.config import RoutingSettings
from shopwatch.runtime.consumer import IdempotentConsumer
from shopwatch.runtime.dlq import (
    H_CONSUMER_GROUP,
    H_ERROR_MESSAGE,
    H_ORIGINAL_OFFSET,
    H_ORIGINAL_SHA256,
    H_ORIGINAL_TOPIC,
    H_REASON,
    H_VALUE_TRUNCATED,
)
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.events import Event, ReportSubmitted
from shopwatch.schemas.examples import example_envelope, example_event
from shopwatch.schemas.forces import FORCE_SLUGS
from shopwatch.schemas.topics import (
    DLQ_SUFFIX,
    ForceTopicKind,
    all_topics,
    force_topic,
    strip_prefix,
)
from shopwatch.schemas.topics import topic as registry_topic
from tests.integration.hostile.support import (
    Letter,
    assert_no_secrets,
    common_settings,
    read_letters,
    s3_settings,
    stack_secrets,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

FULL_FORCES = ("durham", "cleveland", "metropolitan")
# A record this size still fits the broker's default message.max.bytes (1,048,588) and a
# default producer's max_request_size (1,048,576) with its key and batch overhead.
HUGE_BYTES = 1_048_000
STATIC_TOPICS = [t.name for t in all_topics() if t.has_dlq and t.force is None]
TOPICS = STATIC_TOPICS + [force_topic(f, ForceTopicKind.UPDATES) for f in FULL_FORCES]


@dataclass
class Fleet:
    prefix: str
    services: dict[str, Service[Any]]
    cases: dict[str, str]  # force -> the id of a case routed to it

    def consumers_of(self, physical: str) -> list[tuple[str, IdempotentConsumer[Any, Any]]]:
        return [
            (name, consumer)
            for name, service in self.services.items()
            for consumer in service.consumers
            if consumer.topic == physical
        ]

    async def processed(self, name: str, group: str, event_id: uuid.UUID) -> bool:
        service = self.services[name]
        if name == "routing":
            # Routing records the ids it applied in the cases themselves (applied_events),
            # and a prolific flag's forward under its own id, not in processed_events.
            found = await service.db["cases"].find_one(
                {"$or": [{"applied_events": str(event_id)}, {"_id": f"prolific:{event_id}"}]},
                {"_id": 1},
            )
            return found is not None
        return await service.processed.seen(group, str(event_id))


def good_event(model: type[Event], force: str, case_id: str) -> Event:
    """The contract's example of `model`, about a case this test routed to `force`."""
    payload = example_event(model).model_dump(mode="json")
    for field in ("report_id", "case_id"):
        if field in payload:
            payload[field] = case_id
    if "force" in payload:
        payload["force"] = force
    if "linked_cases" in payload:
        payload["linked_cases"] = [{"case_id": case_id, "force": force}]
    if "store" in payload:
        payload["store"]["force_override"] = force
    return model.model_validate(payload)


def envelope_json(model: type[Event], payload: Event) -> dict[str, Any]:
    envelope = example_envelope(model).model_copy(
        update={"event_id": uuid.uuid4(), "payload": payload}
    )
    data: dict[str, Any] = json.loads(envelope.model_dump_json())
    return data


@dataclass(frozen=True)
class Poison:
    name: str
    key: bytes
    value: bytes
    # What the DLQ's error message must say (the reason an operator reads).
    says: str


def poisons_for(good: dict[str, Any], token: str) -> list[Poison]:
    raw = json.dumps(good).encode()

    def key(name: str) -> bytes:
        return f"{name}-{token}".encode()

    wrong_version = {**good, "schema_version": 2}
    padded = {**good, "payload": {**good["payload"], "hostile_padding": ""}}
    padded["payload"]["hostile_padding"] = "x" * (HUGE_BYTES - len(json.dumps(padded)))
    made = [
        Poison("bad-json", key("bad-json"), raw[: len(raw) // 2], "not valid JSON"),
        Poison("not-utf8", key("not-utf8"), b"\xff\xfe" + raw[:40], "not UTF-8"),
        Poison(
            "wrong-version",
            key("wrong-version"),
            json.dumps(wrong_version).encode(),
            "has no version 2",
        ),
        Poison("huge", key("huge"), json.dumps(padded).encode(), "hostile_padding"),
    ]
    assert len(made[-1].value) == HUGE_BYTES
    payload = good["payload"]
    where = "force" if "force" in payload else ("store" if "store" in payload else None)
    if where is not None:
        unknown = json.loads(raw)
        if where == "force":
            unknown["payload"]["force"] = "atlantis"
        else:
            unknown["payload"]["store"]["force_override"] = "atlantis"
        made.append(
            Poison(
                "unknown-force",
                key("unknown-force"),
                json.dumps(unknown).encode(),
                "unknown force slug 'atlantis'",
            )
        )
    return made


async def publish_all(
    bootstrap: str,
    topic: str,
    records: list[tuple[bytes, bytes]],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """In order, on the topic's one partition, as one producer would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
async def fleet(
    stack_env: Any,
    registry_topics: str,
    mongo_db_name: Callable[[str], str],
    run_service: Any,
    evidence_bucket: str,
    eventually: Callable[..., Awaitable[None]],
) -> AsyncIterator[Fleet]:
    common = common_settings(stack_env, registry_topics)
    settings: dict[str, Any] = {
        "intake": IntakeSettings(mongo_database=mongo_db_name("intake"), **common),
        "evidence": EvidenceSettings(
            mongo_database=mongo_db_name("evidence"),
            **s3_settings(stack_env, evidence_bucket),
            # Its HTTP side is not used here; nothing answers on this port.
            intake_url="http://127.0.0.1:9",
            sweep_interval_s=0,
            **common,
        ),
        "routing": RoutingSettings(mongo_database=mongo_db_name("routing"), **common),
        "matching": MatchingSettings(mongo_database=mongo_db_name("matching"), **common),
        "notify": NotifySettings(
            mongo_database=mongo_db_name("notify"),
            smtp_host=stack_env.smtp_host,
            smtp_port=stack_env.smtp_port,
            digest_enabled=False,
            **common,
        ),
    }
    wiring = {
        "intake": wire_intake,
        "evidence": wire_evidence,
        "routing": wire_routing,
        "matching": wire_matching,
        "notify": wire_notify,
    }
    async with AsyncExitStack() as stack:
        services = {
            name: await stack.enter_async_context(run_service(settings[name], wiring[name]))
            for name in wiring
        }
        fleet = Fleet(registry_topics, services, {})
        await _route_a_case_to_each_force(fleet, stack_env.kafka_bootstrap, eventually)
        yield fleet


async def _route_a_case_to_each_force(
    fleet: Fleet, bootstrap: str, eventually: Callable[..., Awaitable[None]]
) -> None:
    """One submitted report per force under test, known to every consumer of reports
    before any poison arrives: the good events of the other topics are about these."""
    physical = fleet.prefix + "reports.submitted.v1"
    sent: list[uuid.UUID] = []
    records = []
    for force in FULL_FORCES:
        case_id = f"rep_hostile{secrets.token_hex(8)}"
        fleet.cases[force] = case_id
        data = envelope_json(ReportSubmitted, good_event(ReportSubmitted, force, case_id))
        sent.append(uuid.UUID(data["event_id"]))
        records.append((case_id.encode(), json.dumps(data).encode()))
    await publish_all(bootstrap, physical, records)
    consumers = fleet.consumers_of(physical)
    assert {name for name, _ in consumers} == {"routing", "evidence", "notify"}

    async def known_everywhere() -> bool:
        return all([await fleet.processed(n, c.group, e) for n, c in consumers for e in sent])

    await eventually(known_everywhere, timeout_s=60, what="the forces' cases to be known")


def test_every_consumed_topic_is_poisoned_here(fleet: Fleet) -> None:
    """A topic a service starts consuming must join this module's list (or this fails)."""
    consumed = {
        strip_prefix(c.topic, fleet.prefix) for s in fleet.services.values() for c in s.consumers
    }
    updates = {force_topic(f, ForceTopicKind.UPDATES) for f in FORCE_SLUGS}
    assert updates <= consumed, "routing reads every force's updates topic"
    assert consumed - updates <= set(STATIC_TOPICS), consumed - updates - set(STATIC_TOPICS)
    routing = fleet.services["routing"].consumers
    handlers = {c.handler for c in routing if strip_prefix(c.topic, fleet.prefix) in updates}
    assert len(handlers) == 1, "one handler for all forces: three of them stand for all"


@pytest.mark.parametrize("topic", TOPICS)
async def test_poison_is_dead_lettered_with_its_reason_and_the_good_message_flows(
    fleet: Fleet,
    topic: str,
    stack_env: Any,
    read_topic: Callable[..., Awaitable[list[Any]]],
    eventually: Callable[..., Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    physical = fleet.prefix + topic
    consumers = fleet.consumers_of(physical)
    if not consumers:
        pytest.skip(f"the registry gives {topic} a DLQ but no service consumes it yet")
    spec = registry_topic(topic)
    (model,) = spec.event_models
    force = spec.force or "durham"
    good = envelope_json(model, good_event(model, force, fleet.cases[force]))
    good_id = uuid.UUID(good["event_id"])
    token = secrets.token_hex(4)
    poisons = poisons_for(good, token)
    good_key = f"good-{token}".encode()
    await publish_all(
        stack_env.kafka_bootstrap,
        physical,
        [(p.key, p.value) for p in poisons] + [(good_key, json.dumps(good).encode())],
    )

    async def good_processed_by_all() -> bool:
        return all([await fleet.processed(n, c.group, good_id) for n, c in consumers])

    await eventually(good_processed_by_all, timeout_s=60, what=f"the good event on {topic}")

    expected = {(c.group, p.key) for _, c in consumers for p in poisons}

    def ours(found: list[Letter]) -> dict[tuple[str, bytes | None], Letter]:
        return {
            (letter.headers.get(H_CONSUMER_GROUP, ""), letter.key): letter
            for letter in found
            if letter.key is not None and letter.key.endswith(token.encode())
        }

    found = await read_letters(
        read_topic, physical + DLQ_SUFFIX, lambda ls: expected <= set(ours(ls))
    )
    by_group_key = ours(found)
    assert set(by_group_key) == expected, f"missing: {expected - set(by_group_key)}"
    for _, consumer in consumers:
        for poison in poisons:
            letter = by_group_key[(consumer.group, poison.key)]
            assert letter.headers[H_REASON] == "poison", (poison.name, letter.headers)
            assert poison.says in letter.headers[H_ERROR_MESSAGE], (poison.name, letter.headers)
            assert letter.headers[H_ORIGINAL_TOPIC] == physical
            assert letter.headers[H_ORIGINAL_OFFSET].isdigit()
            if poison.name == "huge":
                # Too big to carry whole with its headers: cut, with the original's size
                # and hash (the whole record stays on the source topic at that offset).
                assert letter.headers[H_VALUE_TRUNCATED] == str(len(poison.value))
                digest = hashlib.sha256(poison.value).hexdigest()
                assert letter.headers[H_ORIGINAL_SHA256] == digest
                assert poison.value.startswith(letter.value) and len(letter.value) > 900_000
            else:
                assert letter.value == poison.value, f"{poison.name}: the original is kept"
                assert H_VALUE_TRUNCATED not in letter.headers
        assert not consumer.halted
    assert all((c.group, good_key) not in by_group_key for _, c in consumers)

    # Logged, once per group and poison, without the bytes or any secret.
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.name == "shopwatch.runtime.consumer" and "dead-lettered" in r.getMessage()
    ]
    ours_logged = [m for m in logged if m.startswith(f"dead-lettered {physical}[")]
    assert sum("(poison)" in m for m in ours_logged) >= len(poisons) * len(consumers), logged
    assert_no_secrets(caplog.text, stack_secrets(stack_env))


async def test_a_header_that_is_not_utf8_neither_stops_nor_loses_anything(
    fleet: Fleet,
    stack_env: Any,
    read_topic: Callable[..., Awaitable[list[Any]]],
    eventually: Callable[..., Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Kafka headers are bytes; ours are UTF-8 text. An event whose header is not is
    either handled or dead-lettered (never dropped unseen), and the next one flows."""
    topic = "cases.status-changed.v1"
    physical = fleet.prefix + topic
    consumers = fleet.consumers_of(physical)
    (model,) = registry_topic(topic).event_models
    odd, good = (
        envelope_json(model, good_event(model, "durham", fleet.cases["durham"])) for _ in "ab"
    )
    token = secrets.token_hex(4)
    bad_header = [("x-trace", b"\xff\xfe\x00 not text")]
    await publish_all(
        stack_env.kafka_bootstrap,
        physical,
        [(f"odd-{token}".encode(), json.dumps(odd).encode())],
        headers=bad_header,
    )
    await publish_all(
        stack_env.kafka_bootstrap, physical, [(f"good-{token}".encode(), json.dumps(good).encode())]
    )

    async def good_processed_by_all() -> bool:
        ids = uuid.UUID(good["event_id"])
        return all([await fleet.processed(n, c.group, ids) for n, c in consumers])

    await eventually(good_processed_by_all, timeout_s=60, what="the event behind the odd header")
    odd_id = uuid.UUID(odd["event_id"])
    found = await read_letters(read_topic, physical + DLQ_SUFFIX, lambda _: False, timeout_s=3)
    dead = {
        letter.headers.get(H_CONSUMER_GROUP)
        for letter in found
        if letter.key == f"odd-{token}".encode()
    }
    for name, consumer in consumers:
        handled = await fleet.processed(name, consumer.group, odd_id)
        assert handled or consumer.group in dead, f"{consumer.group} lost the odd event"
    warned = [r for r in caplog.records if "not UTF-8 text" in r.getMessage()]
    assert len(warned) >= len(consumers) and all(physical in r.getMessage() for r in warned)
