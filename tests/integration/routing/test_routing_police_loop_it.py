"""Routing and the police loop on the real Kafka (SASL/SCRAM + ACLs) and FerretDB.

Intake and routing run in this process as two services with their own databases, talking
only through Kafka, as in production.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.errors import TopicAuthorizationFailedError  # type: ignore[import-untyped]
from pydantic import SecretStr

from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.intake.app import wire as wire_intake
from shopwatch.intake.config import IntakeSettings
from shopwatch.routing.app import wire as wire_routing
from shopwatch.routing.config import RoutingSettings
from shopwatch.runtime.kafka_security import (
    AdminConnection,
    grant_force_access,
    revoke_force_access,
    upsert_scram_user,
)
from shopwatch.runtime.metrics import REGISTRY
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.enums import UpdateKind
from shopwatch.schemas.events import ForceUpdate, LinkedCaseRef, ProlificOffenderFlagged
from shopwatch.schemas.examples import example_event, example_report
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import (
    CASES_STATUS_CHANGED,
    OFFENDERS_PROLIFIC_FLAGGED,
    REPORTS_SUBMITTED,
    force_topic,
)

pytestmark = pytest.mark.integration

POSTCODES = {"durham": "DH1 3LE", "cleveland": "TS1 2AA", "northumbria": "NE1 4ST"}


@pytest.fixture(scope="module")
async def services(
    stack_env: Any, registry_topics: str, mongo_db_name: Callable[[str], str], run_service: Any
) -> AsyncIterator[tuple[Service[IntakeSettings], Service[RoutingSettings]]]:
    common: dict[str, Any] = {
        "kafka_bootstrap": stack_env.kafka_bootstrap,
        "mongo_url": SecretStr(stack_env.mongo_url),
        "topic_prefix": registry_topics,
        "outbox_poll_interval_s": 0.2,
        "consumer_backoff_initial_s": 0.05,
        "consumer_backoff_max_s": 0.2,
    }
    intake_settings = IntakeSettings(mongo_database=mongo_db_name("intake"), **common)
    routing_settings = RoutingSettings(mongo_database=mongo_db_name("routing"), **common)
    async with (
        run_service(intake_settings, wire_intake) as intake,
        run_service(routing_settings, wire_routing) as routing,
    ):
        yield intake, routing


@pytest.fixture(scope="module")
async def client(services: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=services[0].app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        yield http


@pytest.fixture(scope="module")
async def chain(services: Any) -> dict[str, Any]:
    """A national chain with a store in each of three forces, and one off the map."""
    admin = IntakeAdmin(MongoTenants(services[0].db))
    retailer, key = await admin.add_retailer("Northmart")
    stores = {}
    for force, postcode in {**POSTCODES, "nowhere": "JE2 3AB"}.items():
        store = await admin.add_store(
            retailer.retailer_id,
            name=f"Northmart {force}",
            address_lines=["1 High Street"],
            town="Town",
            postcode=postcode,
        )
        stores[force] = store.store_id
    return {"headers": {"Authorization": f"Bearer {key.api_key}"}, "stores": stores}


def report(store_id: str) -> dict[str, Any]:
    body = example_report().model_dump(mode="json")
    body.update(store_id=store_id, occurred_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    return body


@pytest.fixture(scope="module")
async def force_user(stack_env: Any, registry_topics: str) -> AsyncIterator[Callable[[str], Any]]:
    """Makes a SCRAM principal confined to one force's topics (as `admin force add` will)."""
    conn = AdminConnection(stack_env.kafka_bootstrap)
    made: list[str] = []

    async def make(slug: str) -> dict[str, Any]:
        user, password = (
            f"{registry_topics}{slug}-{secrets.token_hex(3)}",
            secrets.token_urlsafe(18),
        )
        await upsert_scram_user(conn, user, password)
        await grant_force_access(conn, slug, user, topic_prefix=registry_topics)
        made.append(user)
        return {
            "bootstrap_servers": stack_env.kafka_sasl_bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    yield make
    for user in made:
        await revoke_force_access(conn, user)


def case_ids(records: list[Any]) -> list[str]:
    return [json.loads(r.value)["payload"]["case_id"] for r in records]


async def submit(client: httpx.AsyncClient, chain: dict[str, Any], force: str) -> str:
    response = await client.post(
        "/v1/reports", json=report(chain["stores"][force]), headers=chain["headers"]
    )
    assert response.status_code == 202, response.text
    return str(response.json()["report_id"])


async def test_reports_land_on_the_right_force_topics_exactly_once(
    services: Any,
    client: httpx.AsyncClient,
    chain: dict[str, Any],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    routing = services[1]
    submitted = {force: await submit(client, chain, force) for force in POSTCODES}
    for force, report_id in submitted.items():
        topic = routing.settings.topic(force_topic(force))
        records = await read_topic(topic, until=lambda rs, rid=report_id: rid in case_ids(rs))
        assert case_ids(records).count(report_id) == 1, f"{force}: {case_ids(records)}"
        others = set(submitted.values()) - {report_id}
        assert not others & set(case_ids(records)), f"{force} got another force's case"
        package = json.loads(
            next(r.value for r in records if json.loads(r.value)["payload"]["case_id"] == report_id)
        )
        assert package["payload"]["force"] == force and package["payload"]["sequence"] == 1


async def test_a_report_delivered_twice_is_one_case(
    services: Any,
    client: httpx.AsyncClient,
    chain: dict[str, Any],
    stack_env: Any,
    read_topic: Callable[..., Awaitable[list[Any]]],
    eventually: Callable[..., Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Routing keeps no processed-events record: the event id applied to the case, in
    the same write, is what makes a second delivery (a relay resend, a redelivery after
    a crash) change nothing. The very same record is put on the topic again here."""
    caplog.set_level(logging.INFO, logger="shopwatch.routing.service")
    intake, routing = services
    report_id = await submit(client, chain, "durham")
    force_records = await read_topic(
        routing.settings.topic(force_topic("durham")), until=lambda rs: report_id in case_ids(rs)
    )
    assert case_ids(force_records).count(report_id) == 1
    reports_topic = intake.settings.topic(REPORTS_SUBMITTED)
    [consumer] = [c for c in routing.consumers if c.topic == reports_topic]
    handled = {"topic": reports_topic, "group": consumer.group}
    handled_before = REGISTRY.get_sample_value("shopwatch_events_processed_total", handled) or 0
    submitted = await read_topic(reports_topic, until=lambda rs: report_id in _report_ids(rs))
    original = next(r for r in submitted if report_id in _report_ids([r]))
    producer = AIOKafkaProducer(bootstrap_servers=stack_env.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            reports_topic, original.value, key=original.key, headers=list(original.headers)
        )
    finally:
        await producer.stop()

    async def second_delivery_handled() -> bool:
        count = REGISTRY.get_sample_value("shopwatch_events_processed_total", handled) or 0
        return count >= handled_before + 1

    await eventually(second_delivery_handled, what="routing handled the second delivery")
    force_records = await read_topic(
        routing.settings.topic(force_topic("durham")), until=lambda rs: report_id in case_ids(rs)
    )
    assert case_ids(force_records).count(report_id) == 1, "a second delivery made a second case"
    # The decision trail: one line for the report's one decision, none for the repeat.
    trail = [r.getMessage() for r in caplog.records if f"case {report_id}:" in r.getMessage()]
    decided = f"case {report_id}: report.submitted applied, "
    assert len(trail) == 1 and trail[0].startswith(decided), trail


def _report_ids(records: list[Any]) -> list[str]:
    return [json.loads(r.value)["payload"]["report_id"] for r in records]


async def test_force_update_reaches_the_retailers_timeline(
    services: Any,
    client: httpx.AsyncClient,
    chain: dict[str, Any],
    force_user: Callable[[str], Awaitable[dict[str, Any]]],
    read_topic: Callable[..., Awaitable[list[Any]]],
    eventually: Callable[..., Awaitable[None]],
) -> None:
    intake, routing = services
    report_id = await submit(client, chain, "durham")
    await read_topic(
        routing.settings.topic(force_topic("durham")), until=lambda rs: report_id in case_ids(rs)
    )
    durham = await force_user("durham")
    update = ForceUpdate(
        case_id=report_id,
        force="durham",
        kind=UpdateKind.CRIME_RECORDED,
        crime_reference="DUR/123/26",
        updated_at=datetime.now(UTC),
    )
    producer = AIOKafkaProducer(**durham)
    await producer.start()
    try:
        await producer.send_and_wait(
            routing.settings.topic(force_topic("durham", "updates")),
            make_envelope(update, producer="durham").model_dump_json().encode(),
            key=report_id.encode(),
        )
    finally:
        await producer.stop()

    async def recorded() -> bool:
        view = (await client.get(f"/v1/reports/{report_id}", headers=chain["headers"])).json()
        return bool(view["status"] == "crime_recorded")

    await eventually(recorded, what="crime_recorded in intake's timeline")
    view = (await client.get(f"/v1/reports/{report_id}", headers=chain["headers"])).json()
    assert [e["status"] for e in view["timeline"]] == ["submitted", "routed", "crime_recorded"]
    assert view["timeline"][-1]["detail"]["crime_reference"] == "DUR/123/26"
    changes = await read_topic(
        intake.settings.topic(CASES_STATUS_CHANGED),
        until=lambda rs: sum(1 for r in rs if report_id in r.value.decode()) >= 2,
    )
    statuses = [
        json.loads(r.value)["payload"]["status"] for r in changes if report_id in r.value.decode()
    ]
    assert statuses == ["routed", "crime_recorded"]


async def test_durham_is_refused_clevelands_topics_by_the_broker(
    services: Any, force_user: Callable[[str], Awaitable[dict[str, Any]]]
) -> None:
    routing = services[1]
    durham = await force_user("durham")
    producer = AIOKafkaProducer(**durham)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(
                routing.settings.topic(force_topic("cleveland", "updates")), b"{}"
            )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        routing.settings.topic(force_topic("cleveland")),
        group_id=f"{routing.settings.topic_prefix}force.durham.listen",
        auto_offset_reset="earliest",
        **durham,
    )
    with pytest.raises(TopicAuthorizationFailedError):
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=10_000)
        finally:
            await consumer.stop()


async def test_update_for_another_forces_case_is_refused_and_dead_lettered(
    services: Any,
    client: httpx.AsyncClient,
    chain: dict[str, Any],
    publish: Callable[..., Awaitable[None]],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    routing = services[1]
    cleveland_case = await submit(client, chain, "cleveland")
    await read_topic(
        routing.settings.topic(force_topic("cleveland")),
        until=lambda rs: cleveland_case in case_ids(rs),
    )
    sneaky = ForceUpdate(
        case_id=cleveland_case, force="durham", kind=UpdateKind.CLOSED, updated_at=datetime.now(UTC)
    )
    durham_updates = routing.settings.topic(force_topic("durham", "updates"))
    garbage = b"{this is not json " + secrets.token_hex(4).encode()
    await publish(
        durham_updates, make_envelope(sneaky, producer="durham").model_dump_json().encode()
    )
    await publish(durham_updates, garbage)

    def ours(records: list[Any]) -> list[Any]:
        # Other tests of the session write to durham's topics too: count only ours.
        return [r for r in records if cleveland_case.encode() in r.value or r.value == garbage]

    dead = ours(await read_topic(f"{durham_updates}.dlq", until=lambda rs: len(ours(rs)) >= 2))
    reasons = [dict(r.headers).get("dlq-error-message", b"").decode() for r in dead]
    assert any("not durham's case" in reason for reason in reasons), reasons
    assert len(dead) == 2
    view = (await client.get(f"/v1/reports/{cleveland_case}", headers=chain["headers"])).json()
    assert view["status"] == "routed"


async def test_unroutable_report_is_visible_not_lost(
    services: Any,
    client: httpx.AsyncClient,
    chain: dict[str, Any],
    read_topic: Callable[..., Awaitable[list[Any]]],
    eventually: Callable[..., Awaitable[None]],
) -> None:
    report_id = await submit(client, chain, "nowhere")

    async def unroutable() -> bool:
        view = (await client.get(f"/v1/reports/{report_id}", headers=chain["headers"])).json()
        return bool(view["status"] == "unroutable")

    await eventually(unroutable, what="the unroutable status in intake's timeline")
    dlq = f"{services[1].settings.topic(REPORTS_SUBMITTED)}.dlq"
    dead = await read_topic(dlq, until=lambda rs: any(report_id in r.value.decode() for r in rs))
    (letter,) = [r for r in dead if report_id in r.value.decode()]
    assert dict(letter.headers)["dlq-reason"] == b"unroutable"


async def test_prolific_flag_reaches_the_forces_topic_once_and_raises_priority(
    services: Any,
    client: httpx.AsyncClient,
    chain: dict[str, Any],
    publish: Callable[..., Awaitable[None]],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    routing = services[1]
    case_id = await submit(client, chain, "northumbria")
    topic = routing.settings.topic(force_topic("northumbria"))
    await read_topic(topic, until=lambda rs: case_id in case_ids(rs))
    flag = example_event(ProlificOffenderFlagged).model_copy(
        update={
            "profile_id": f"prof-{secrets.token_hex(4)}",
            "force": "northumbria",
            "linked_cases": [LinkedCaseRef(case_id=case_id, force="northumbria")],
        }
    )
    envelope = make_envelope(flag, producer="matching")
    flags_topic = routing.settings.topic(OFFENDERS_PROLIFIC_FLAGGED)
    await publish(flags_topic, envelope.model_dump_json().encode(), flag.profile_id.encode())
    await publish(flags_topic, envelope.model_dump_json().encode(), flag.profile_id.encode())

    def flags(records: list[Any]) -> list[Any]:
        return [
            r for r in records if flag.profile_id.encode() in r.value and b"prolific" in r.value
        ]

    def packages(records: list[Any]) -> list[dict[str, Any]]:
        return [
            json.loads(r.value)["payload"]
            for r in records
            if json.loads(r.value)["event_type"] == "case.routed"
            and json.loads(r.value)["payload"]["case_id"] == case_id
        ]

    records = await read_topic(topic, until=lambda rs: bool(flags(rs)) and len(packages(rs)) >= 2)
    assert len(flags(records)) == 1
    latest = max(packages(records), key=lambda p: p["sequence"])
    assert "prolific_offender" in [r["code"] for r in latest["priority_reasons"]]
