"""Intake against the real stack: MongoDB (FerretDB), Kafka, the outbox relay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.intake.app import wire
from shopwatch.intake.config import IntakeSettings
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.events import CaseStatusChanged
from shopwatch.schemas.examples import example_report
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, REPORTS_SUBMITTED

pytestmark = pytest.mark.integration


class Tenant:
    def __init__(self, retailer_id: str, store_id: str, api_key: str, key_id: str) -> None:
        self.retailer_id, self.store_id, self.api_key, self.key_id = (
            retailer_id,
            store_id,
            api_key,
            key_id,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def report_body(store_id: str, **changes: Any) -> dict[str, Any]:
    body = example_report().model_dump(mode="json")
    body["store_id"] = store_id
    body["occurred_at"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    body.update(changes)
    return body


@pytest.fixture(scope="module")
async def intake(
    stack_env: Any, registry_topics: str, mongo_db_name: Callable[[str], str], run_service: Any
) -> AsyncIterator[Service[IntakeSettings]]:
    settings = IntakeSettings(
        kafka_bootstrap=stack_env.kafka_bootstrap,
        mongo_url=SecretStr(stack_env.mongo_url),
        mongo_database=mongo_db_name("intake"),
        topic_prefix=registry_topics,
        outbox_poll_interval_s=0.2,
        max_body_bytes=64 * 1024,
        rate_limit_per_second=1000,
        rate_limit_burst=2000,
    )
    async with run_service(settings, wire) as service:
        yield service


@pytest.fixture(scope="module")
async def client(intake: Service[IntakeSettings]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=intake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        yield http


async def new_tenant(intake: Service[IntakeSettings], name: str, postcode: str) -> Tenant:
    admin = IntakeAdmin(MongoTenants(intake.db))
    retailer, key = await admin.add_retailer(name)
    store = await admin.add_store(
        retailer.retailer_id,
        name=f"{name} store",
        address_lines=["1 High Street"],
        town="Durham",
        postcode=postcode,
    )
    return Tenant(retailer.retailer_id, store.store_id, key.api_key, key.key_id)


@pytest.fixture(scope="module")
async def chain(intake: Service[IntakeSettings]) -> Tenant:
    return await new_tenant(intake, "Northmart", "DH1 3LE")


@pytest.fixture(scope="module")
async def corner_shop(intake: Service[IntakeSettings]) -> Tenant:
    return await new_tenant(intake, "Corner Shop", "TS1 2AA")


def submitted_ids(records: list[Any]) -> list[str]:
    return [json.loads(r.value)["payload"]["report_id"] for r in records]


async def test_report_is_stored_and_published_exactly_once(
    client: httpx.AsyncClient,
    chain: Tenant,
    intake: Service[IntakeSettings],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    response = await client.post(
        "/v1/reports", json=report_body(chain.store_id), headers=chain.headers
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["reference"].startswith("SW-") and body["status"] == "submitted"
    doc = await intake.db["reports"].find_one({"_id": body["report_id"]})
    assert doc is not None and doc["retailer_id"] == chain.retailer_id
    topic = intake.settings.topic(REPORTS_SUBMITTED)
    records = await read_topic(topic, until=lambda rs: body["report_id"] in submitted_ids(rs))
    assert submitted_ids(records).count(body["report_id"]) == 1
    published = await intake.db["reports"].find_one({"_id": body["report_id"]})
    assert published is not None and not published.get("outbox")  # nothing left pending


async def test_relay_killed_between_write_and_publish_loses_and_duplicates_nothing(
    client: httpx.AsyncClient,
    chain: Tenant,
    intake: Service[IntakeSettings],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    relay = intake.relay
    assert relay is not None
    await relay.stop()  # the relay dies; the write below must still be published later
    response = await client.post(
        "/v1/reports", json=report_body(chain.store_id), headers=chain.headers
    )
    assert response.status_code == 202
    report_id = response.json()["report_id"]
    doc = await intake.db["reports"].find_one({"_id": report_id})
    assert doc is not None and len(doc["outbox"]) == 1  # accepted, not yet published
    await relay.start()
    relay.nudge()
    topic = intake.settings.topic(REPORTS_SUBMITTED)
    records = await read_topic(topic, until=lambda rs: report_id in submitted_ids(rs))
    assert submitted_ids(records).count(report_id) == 1


async def test_idempotency_key_replays_and_conflicts(
    client: httpx.AsyncClient, chain: Tenant
) -> None:
    body = report_body(chain.store_id)
    headers = {**chain.headers, "Idempotency-Key": "till-7-incident-1"}
    first = await client.post("/v1/reports", json=body, headers=headers)
    again = await client.post("/v1/reports", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["report_id"] == first.json()["report_id"]
    assert again.json()["replayed"] is True
    different = await client.post(
        "/v1/reports", json={**body, "account": "something else"}, headers=headers
    )
    assert different.status_code == 409


async def test_tenants_are_isolated(
    client: httpx.AsyncClient, chain: Tenant, corner_shop: Tenant
) -> None:
    mine = await client.post("/v1/reports", json=report_body(chain.store_id), headers=chain.headers)
    report_id = mine.json()["report_id"]
    assert (await client.get(f"/v1/reports/{report_id}", headers=chain.headers)).status_code == 200
    theirs = await client.get(f"/v1/reports/{report_id}", headers=corner_shop.headers)
    assert theirs.status_code == 404
    other_store = await client.post(
        "/v1/reports", json=report_body(chain.store_id), headers=corner_shop.headers
    )
    assert other_store.status_code == 404
    listing = await client.get("/v1/reports", headers=corner_shop.headers)
    assert report_id not in [r["report_id"] for r in listing.json()["reports"]]


async def test_batch_accepts_valid_items_and_names_the_bad_ones(
    client: httpx.AsyncClient, chain: Tenant
) -> None:
    good = report_body(chain.store_id)
    future = report_body(
        chain.store_id, occurred_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()
    )
    unknown_offence = report_body(chain.store_id, offence_type="jaywalking")
    items = [
        {"idempotency_key": "b-1", "report": good},
        {"idempotency_key": "b-2", "report": future},
        {"idempotency_key": "b-3", "report": unknown_offence},
        {"idempotency_key": "b-4", "report": report_body("st_not_mine")},
    ]
    response = await client.post("/v1/reports/batch", json={"items": items}, headers=chain.headers)
    assert response.status_code == 207, response.text
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (1, 3)
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["accepted", "rejected", "rejected", "rejected"]
    assert result["results"][1]["errors"][0]["loc"] == ["report", "occurred_at"]
    assert result["results"][2]["errors"][0]["loc"] == ["report", "offence_type"]
    assert result["results"][3]["errors"][0]["loc"] == ["report", "store_id"]
    again = await client.post("/v1/reports/batch", json={"items": items[:1]}, headers=chain.headers)
    assert again.json()["results"][0]["status"] == "duplicate"
    assert again.json()["results"][0]["report_id"] == result["results"][0]["report_id"]


async def test_listing_paginates_with_a_cursor(
    client: httpx.AsyncClient, intake: Service[IntakeSettings]
) -> None:
    tenant = await new_tenant(intake, "Paging Ltd", "NE1 4ST")
    items = [{"report": report_body(tenant.store_id, account=f"incident {i}")} for i in range(5)]
    await client.post("/v1/reports/batch", json={"items": items}, headers=tenant.headers)
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/reports", params=params, headers=tenant.headers)).json()
        seen += [r["report_id"] for r in page["reports"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5


async def test_status_change_reaches_the_timeline(
    client: httpx.AsyncClient,
    chain: Tenant,
    intake: Service[IntakeSettings],
    publish: Callable[..., Awaitable[None]],
    eventually: Callable[..., Awaitable[None]],
) -> None:
    posted = await client.post(
        "/v1/reports", json=report_body(chain.store_id), headers=chain.headers
    )
    report_id, reference = posted.json()["report_id"], posted.json()["reference"]
    change = CaseStatusChanged(
        case_id=report_id,
        report_id=report_id,
        reference=reference,
        retailer_id=chain.retailer_id,
        store_id=chain.store_id,
        sequence=1,
        force="durham",
        previous_status=CaseStatus.SUBMITTED,
        status=CaseStatus.ROUTED,
        changed_at=datetime.now(UTC),
    )
    envelope = make_envelope(change, producer="routing")
    topic = intake.settings.topic(CASES_STATUS_CHANGED)
    await publish(topic, envelope.model_dump_json().encode(), report_id.encode())
    await publish(topic, envelope.model_dump_json().encode(), report_id.encode())  # redelivered

    async def routed() -> bool:
        view = (await client.get(f"/v1/reports/{report_id}", headers=chain.headers)).json()
        return bool(view["status"] == "routed")

    await eventually(routed, what="the routed status in the timeline")
    view = (await client.get(f"/v1/reports/{report_id}", headers=chain.headers)).json()
    assert [e["status"] for e in view["timeline"]] == ["submitted", "routed"]


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({}, b"{}", 401),
        ({"Authorization": "Bearer sw_000000000000_" + "x" * 43}, b"{}", 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, b"{}", 401),
    ],
)
async def test_bad_credentials(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes, status: int
) -> None:
    response = await client.post(
        "/v1/reports", content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert response.headers.get("WWW-Authenticate") == "Bearer"


async def test_revoked_key_is_refused(
    client: httpx.AsyncClient, intake: Service[IntakeSettings]
) -> None:
    tenant = await new_tenant(intake, "Revoked Ltd", "DH1 3LE")
    # In use (so remembered by intake's key cache) when it is revoked.
    assert (await client.get("/v1/reports", headers=tenant.headers)).status_code == 200
    await IntakeAdmin(MongoTenants(intake.db)).revoke_key(tenant.key_id)
    revoked_at = time.monotonic()
    ttl_s = intake.settings.tenant_cache_s
    while (await client.get("/v1/reports", headers=tenant.headers)).status_code != 401:
        assert time.monotonic() - revoked_at < ttl_s + 2, "revoked key still works"
        await asyncio.sleep(0.05)
    # Refused from then on.
    for _ in range(3):
        assert (await client.get("/v1/reports", headers=tenant.headers)).status_code == 401


async def test_bad_bodies_get_clear_4xx(client: httpx.AsyncClient, chain: Tenant) -> None:
    json_headers = {**chain.headers, "Content-Type": "application/json"}
    malformed = await client.post("/v1/reports", content=b"{not json", headers=json_headers)
    assert malformed.status_code == 422
    wrong_type = await client.post(
        "/v1/reports", content=b"a=b", headers={**chain.headers, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    huge = await client.post("/v1/reports", content=b"x" * 70_000, headers=json_headers)
    assert huge.status_code == 413
    future = report_body(
        chain.store_id, occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()
    )
    response = await client.post("/v1/reports", json=future, headers=chain.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "occurred_at"
    negative = report_body(chain.store_id)
    negative["items"][0]["unit_value_pence"] = -5
    response = await client.post("/v1/reports", json=negative, headers=chain.headers)
    assert response.status_code == 422
    assert "unit_value_pence" in response.json()["detail"][0]["loc"]
    too_many = {"items": [{"report": report_body(chain.store_id)}] * 501}
    response = await client.post("/v1/reports/batch", json=too_many, headers=chain.headers)
    assert response.status_code == 422
    bad_cursor = await client.get(
        "/v1/reports", params={"cursor": "garbage"}, headers=chain.headers
    )
    assert bad_cursor.status_code == 400


async def test_identity_endpoint_resolves_a_key(client: httpx.AsyncClient, chain: Tenant) -> None:
    me = await client.get("/v1/me", headers=chain.headers)
    assert me.status_code == 200
    assert me.json() == {"retailer_id": chain.retailer_id, "key_id": chain.key_id}
    assert (await client.get("/v1/me")).status_code == 401


def metric(text: str, name: str, label: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_accepted_and_refused_reports(
    client: httpx.AsyncClient, chain: Tenant
) -> None:
    before = (await client.get("/metrics")).text
    await client.post("/v1/reports", json=report_body(chain.store_id), headers=chain.headers)
    await client.post("/v1/reports", json={"store_id": chain.store_id}, headers=chain.headers)
    await client.post("/v1/reports", json=report_body(chain.store_id))
    after = (await client.get("/metrics")).text
    received = "shopwatch_reports_received_total"
    rejected = "shopwatch_reports_rejected_total"
    assert metric(after, received, 'path="single"') - metric(before, received, 'path="single"') == 1
    assert (
        metric(after, rejected, 'reason="invalid"') - metric(before, rejected, 'reason="invalid"')
        == 1
    )
    unauth = 'reason="unauthenticated"'
    assert metric(after, rejected, unauth) - metric(before, rejected, unauth) == 1
