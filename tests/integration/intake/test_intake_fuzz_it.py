"""Schemathesis fuzzes intake's OpenAPI in process, on the real stack.

The app from `wire()` is reached through schemathesis's ASGI transport, which starts the
app's lifespan (so the real service starts: indexes, outbox relay, Kafka consumer) in an
event-loop thread of its own and keeps it until the test ends. Every request carries a
real retailer key, so the fuzzer reaches the handlers rather than bouncing off the 401.

What must hold for every request, valid (positive) or not (negative): no 5xx, and the
answer (status code, content type, headers, body) is one the OpenAPI declares; operations
that need a key refuse requests without one, and undeclared methods get a 405.

Why not `@schema.parametrize()` with `schemathesis.pytest.from_fixture`: the app needs
settings that exist only once fixtures ran, and that lazy loader (schemathesis 4.32)
breaks on pytest 9.2 (`'Function' object has no attribute '_nodeid'`). Schemathesis's
per-operation Hypothesis strategies generate the same cases without the plugin's plumbing.

Left out on purpose: `positive_data_acceptance` (a JSON Schema cannot say "not in the
future" or "a cursor this API issued", so schema-valid requests rightly get 400/422) and
`negative_data_rejection` (unknown query parameters are ignored, as HTTP APIs do).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from pymongo import AsyncMongoClient
from schemathesis import GenerationMode
from schemathesis.checks import (  # resolved through the module's registry of checks
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.intake.app import wire
from shopwatch.intake.config import IntakeSettings
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.examples import example_report

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

Case = schemathesis.Case[Any]

# Per operation and generation mode. 40 keeps the module near 30 s here (2 cores shared).
MAX_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
    unsupported_method,
    missing_required_header,
]
# The runtime's ops router declares `/metrics` as JSON while it serves Prometheus text
# (runtime/ops_app.py): the runtime's to fix, not intake's.
NOT_FUZZED = {"GET /metrics"}
PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class FuzzTenant:
    database: str
    store_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture(scope="module")
async def fuzz_tenant(stack_env: Any, mongo_db_name: Callable[[str], str]) -> FuzzTenant:
    """A retailer with one store and a key, written with a client of its own: the service's
    client lives in schemathesis's event-loop thread, not in pytest-asyncio's."""
    database = mongo_db_name("intake")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url, tz_aware=True)
    try:
        tenants = MongoTenants(client[database])
        await tenants.ensure_indexes()
        admin = IntakeAdmin(tenants)
        retailer, key = await admin.add_retailer("Fuzzmart")
        store = await admin.add_store(
            retailer.retailer_id,
            name="Fuzzmart Durham",
            address_lines=["1 Market Place"],
            town="Durham",
            postcode="DH1 3NJ",
        )
    finally:
        await client.close()
    return FuzzTenant(database, store.store_id, key.api_key)


class ServiceOnce:
    """The service's ASGI app, with the lifespan handled here: the service starts on the
    first lifespan schemathesis opens and stays up for the whole module.

    Schemathesis's pytest plugin ends every ASGI lifespan when a test ends, and a stopped
    service (its MongoDB client closed) cannot start again; one service per test would
    also pay a Kafka consumer-group join each time. The module fixture stops it, on the
    event loop it runs in (schemathesis's thread).
    """

    def __init__(self, service: Service[IntakeSettings]) -> None:
        self.service = service
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.service.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
            if self.loop is None:
                await self.service.start()
                self.loop = asyncio.get_running_loop()
            await send({"type": "lifespan.startup.complete"})

    def stop(self) -> None:
        if self.loop is not None:
            asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(timeout=60)


@pytest.fixture(scope="module")
def intake_schema(stack_env: Any, registry_topics: str, fuzz_tenant: FuzzTenant) -> Iterator[Any]:
    settings = IntakeSettings(
        kafka_bootstrap=stack_env.kafka_bootstrap,
        mongo_url=SecretStr(stack_env.mongo_url),
        mongo_database=fuzz_tenant.database,
        topic_prefix=registry_topics,
        outbox_poll_interval_s=0.5,
        # The fuzzer is one very busy client; the rate limit has its own test.
        rate_limit_per_second=100_000,
        rate_limit_burst=100_000,
    )
    service: Service[IntakeSettings] = Service(settings)
    wire(service)
    app = ServiceOnce(service)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    app.stop()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_intake_api_never_5xx_and_answers_as_documented(
    intake_schema: Any, fuzz_tenant: FuzzTenant, mode: GenerationMode
) -> None:
    failures: dict[str, str] = {}
    statuses: Counter[tuple[str, int]] = Counter()
    operations = [
        result.ok()
        for result in intake_schema.get_all_operations()
        if result.ok().label not in NOT_FUZZED
    ]
    assert {op.label for op in operations} >= {
        "POST /v1/reports",
        "POST /v1/reports/batch",
        "GET /v1/reports",
        "GET /v1/reports/{report_id}",
        "GET /v1/me",
    }
    for operation in operations:
        started = time.monotonic()
        try:
            _fuzz(operation, mode, fuzz_tenant, statuses)
        except Unsatisfiable:
            # Negative mode on an operation without inputs: nothing can be made invalid.
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # schemathesis raises a (Base)ExceptionGroup of failures
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:4000]
        print(f"{mode} {operation.label}: {time.monotonic() - started:.1f}s")
    print("answers:", sorted(statuses.items()))
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())
    if mode is GenerationMode.POSITIVE:
        # The fuzzer got past validation, into MongoDB and the outbox, at least sometimes.
        assert statuses[("POST /v1/reports", 202)] > 0, statuses


def _fuzz(
    operation: Any, mode: GenerationMode, tenant: FuzzTenant, statuses: Counter[tuple[str, int]]
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,  # the first request also waits for the service's start-up
        derandomize=True,  # the same cases every run: a failure here is reproducible
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Case) -> None:
        _make_some_plausible(case, tenant.store_id)
        response = case.call_and_validate(headers=tenant.headers, checks=CHECKS)
        statuses[(operation.label, response.status_code)] += 1

    fuzz()


def test_success_answers_match_the_schema(intake_schema: Any, fuzz_tenant: FuzzTenant) -> None:
    """Random reports rarely pass every rule, so the documented success bodies (202, 207
    with both outcomes, the report view, a page with a cursor) are checked on known data."""
    good = _valid_report(fuzz_tenant.store_id)
    post = intake_schema["/v1/reports"]["POST"]
    accepted = post.Case(body=good).call_and_validate(headers=fuzz_tenant.headers, checks=CHECKS)
    assert accepted.status_code == 202, accepted.text
    report_id = accepted.json()["report_id"]

    batch = intake_schema["/v1/reports/batch"]["POST"].Case(
        body={"items": [{"report": good}, {"report": {**good, "offence_type": "jaywalking"}}]}
    )
    answered = batch.call_and_validate(headers=fuzz_tenant.headers, checks=CHECKS)
    assert [r["status"] for r in answered.json()["results"]] == ["accepted", "rejected"]

    one = intake_schema["/v1/reports/{report_id}"]["GET"].Case(
        path_parameters={"report_id": report_id}
    )
    view = one.call_and_validate(headers=fuzz_tenant.headers, checks=CHECKS)
    assert view.status_code == 200 and view.json()["timeline"][0]["status"] == "submitted"

    listing = intake_schema["/v1/reports"]["GET"].Case(query={"limit": 1})
    page = listing.call_and_validate(headers=fuzz_tenant.headers, checks=CHECKS)
    assert len(page.json()["reports"]) == 1 and page.json()["next_cursor"]


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/v1/reports", "a field's value"),
        ("/v1/reports", "a field's name"),
        ("/v1/reports/batch", "an idempotency key"),
        ("/v1/reports/batch", "an item's field name"),
    ],
)
def test_a_lone_surrogate_is_a_422_not_a_500(
    intake_schema: Any, fuzz_tenant: FuzzTenant, path: str, where: str
) -> None:
    """`"\\udaeb"` is valid JSON but not a Unicode character. Pydantic rejects it; the 422
    that echoes the input used to fail to encode as UTF-8 and came out as a 500.
    (Schemathesis generates UTF-8-encodable strings only, so the fuzzer cannot find it.)"""
    lone = "\udaeb"
    report = _valid_report(fuzz_tenant.store_id)
    if where == "a field's value":
        body: dict[str, Any] = {**report, "account": lone}
    elif where == "a field's name":
        body = {**report, lone: "x"}
    elif where == "an idempotency key":
        body = {"items": [{"idempotency_key": lone, "report": report}]}
    else:
        body = {"items": [{lone: 1, "report": report}]}
    case = intake_schema[path]["POST"].Case(body=body)
    response = case.call_and_validate(headers=fuzz_tenant.headers, checks=CHECKS)
    assert response.status_code == 422, response.text


def _valid_report(store_id: str) -> dict[str, Any]:
    body = example_report().model_dump(mode="json")
    body.update(store_id=store_id, occurred_at=PAST, retailer_incident_ref=None)
    return body


def _make_some_plausible(case: Case, store_id: str) -> None:
    """Make about half of the generated reports pass the rules a JSON Schema cannot state
    (the store is the caller's, the incident is in the past), so those go all the way to
    MongoDB and the outbox instead of stopping at a 404 or 422."""
    body = case.body
    if case.path == "/v1/reports" and isinstance(body, dict) and len(str(body)) % 2 == 0:
        _plausible(body, store_id)
    if case.path == "/v1/reports/batch" and isinstance(body, dict):
        items = body.get("items")
        for item in items if isinstance(items, list) else []:
            report = item.get("report") if isinstance(item, dict) else None
            if isinstance(report, dict):
                _plausible(report, store_id)


def _plausible(report: dict[str, Any], store_id: str) -> None:
    if "store_id" in report:
        report["store_id"] = store_id
    if isinstance(report.get("occurred_at"), str):
        report["occurred_at"] = PAST
