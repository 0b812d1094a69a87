"""Per-API-key rate limit, through the real HTTP app on the real stack.

The limit here is tiny and refills slowly (10 reports of burst, 0.5 per second) so that
"allowed" and "refused" do not depend on how fast this machine runs the requests.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
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
from shopwatch.schemas.examples import example_report

pytestmark = pytest.mark.integration

BURST = 10
RATE_PER_SECOND = 0.5


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
        rate_limit_per_second=RATE_PER_SECOND,
        rate_limit_burst=BURST,
    )
    async with run_service(settings, wire) as service:
        yield service


@pytest.fixture(scope="module")
async def client(intake: Service[IntakeSettings]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=intake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        yield http


class Tenant:
    def __init__(self, retailer_id: str, store_id: str, api_key: str) -> None:
        self.retailer_id, self.store_id, self.api_key = retailer_id, store_id, api_key

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def new_tenant(intake: Service[IntakeSettings], name: str) -> Tenant:
    admin = IntakeAdmin(MongoTenants(intake.db))
    retailer, key = await admin.add_retailer(name)
    store = await admin.add_store(
        retailer.retailer_id,
        name=f"{name} Durham",
        address_lines=["1 Market Place"],
        town="Durham",
        postcode="DH1 3NJ",
    )
    return Tenant(retailer.retailer_id, store.store_id, key.api_key)


def report_body(store_id: str, n: int) -> dict[str, Any]:
    body = example_report().model_dump(mode="json")
    body["store_id"] = store_id
    body["occurred_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body["retailer_incident_ref"] = f"RL-{n}"
    return body


def batch(store_id: str, start: int, count: int) -> dict[str, Any]:
    return {"items": [{"report": report_body(store_id, n)} for n in range(start, start + count)]}


def assert_rate_limited(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json() == {"detail": "rate limit exceeded for this API key"}
    retry_after = int(response.headers["Retry-After"])  # whole seconds, as RFC 9110 says
    assert retry_after >= 1
    return retry_after


async def spend_until_refused(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    """Cheap requests until the first 429; the number that got through."""
    for allowed in range(BURST + 5):
        response = await client.get("/v1/reports", headers=headers)
        if response.status_code == 429:
            return allowed
        assert response.status_code == 200, response.text
    raise AssertionError(f"no 429 after {BURST + 5} requests")


async def test_a_key_over_its_limit_gets_429_with_retry_after_and_recovers(
    client: httpx.AsyncClient, intake: Service[IntakeSettings]
) -> None:
    tenant = await new_tenant(intake, "Limited Stores")
    # The burst, plus whatever refilled while the requests ran (a slow machine gets one more).
    assert BURST <= await spend_until_refused(client, tenant.headers) <= BURST + 2
    refused = await client.get("/v1/reports", headers=tenant.headers)
    retry_after = assert_rate_limited(refused)
    assert retry_after <= math.ceil(1 / RATE_PER_SECOND)  # one token is missing, no more
    await asyncio.sleep(retry_after)
    assert (await client.get("/v1/reports", headers=tenant.headers)).status_code == 200


async def test_other_keys_are_unaffected(
    client: httpx.AsyncClient, intake: Service[IntakeSettings]
) -> None:
    noisy = await new_tenant(intake, "Noisy Ltd")
    quiet = await new_tenant(intake, "Quiet Ltd")
    second_key = await IntakeAdmin(MongoTenants(intake.db)).add_key(noisy.retailer_id, "till 2")
    await spend_until_refused(client, noisy.headers)
    assert (await client.get("/v1/reports", headers=noisy.headers)).status_code == 429
    # Another retailer's key, and another key of the same retailer, each have their own bucket.
    assert (await client.get("/v1/reports", headers=quiet.headers)).status_code == 200
    other = {"Authorization": f"Bearer {second_key.api_key}"}
    assert (await client.get("/v1/reports", headers=other)).status_code == 200


async def test_a_batch_is_charged_per_report_and_retry_after_is_enough(
    client: httpx.AsyncClient, intake: Service[IntakeSettings]
) -> None:
    tenant = await new_tenant(intake, "Batch Buyers")
    full = await client.post(
        "/v1/reports/batch", json=batch(tenant.store_id, 0, BURST), headers=tenant.headers
    )
    assert full.status_code == 207, full.text
    assert full.json()["accepted"] == BURST
    # One request so far, but BURST reports: the bucket is empty, and three more reports
    # need three tokens, so the wait is longer than a single request's.
    three = batch(tenant.store_id, BURST, 3)
    refused = await client.post("/v1/reports/batch", json=three, headers=tenant.headers)
    retry_after = assert_rate_limited(refused)
    assert math.ceil(1 / RATE_PER_SECOND) < retry_after <= math.ceil(3 / RATE_PER_SECOND)
    # A client that waits as told gets through with the same batch, the first time.
    await asyncio.sleep(retry_after)
    again = await client.post("/v1/reports/batch", json=three, headers=tenant.headers)
    assert again.status_code == 207, again.text
    assert again.json()["accepted"] == 3
    stored = await intake.db["reports"].count_documents({"retailer_id": tenant.retailer_id})
    assert stored == BURST + 3
