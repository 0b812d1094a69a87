"""A retailer's key on another retailer's ids, a bad key, an Idempotency-Key replayed with
another body, presigned URLs used after they expired: all refused, and the services' own
refusals are logged (JSON lines naming the caller and the request) without any key.

Intake and evidence run as processes, as in production, so the logs checked are what
they really write to their output.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from deploy.local.config import HOST, S3_ACCESS_LOG, S3_PORT
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.schemas.examples import example_report
from tests import media_fixtures as mf
from tests.integration.hostile.support import (
    ServiceProcess,
    assert_no_secrets,
    stack_secrets,
    start_process,
    wait_ready,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

URL_TTL_S = 60  # the shortest lifetime evidence allows for presigned URLs


@dataclass(frozen=True)
class Retailer:
    retailer_id: str
    store_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@dataclass
class System:
    intake: ServiceProcess
    evidence: ServiceProcess
    shop: Retailer
    rival: Retailer

    def refusals(self, service: ServiceProcess, status: int) -> list[dict[str, Any]]:
        return [line for line in service.log_lines() if line.get("refused") == status]

    def assert_no_keys_logged(self, stack_env: Any) -> None:
        for service in (self.intake, self.evidence):
            text = service.log_path.read_text(errors="replace")
            assert_no_secrets(text, [self.shop.api_key, self.rival.api_key])
            assert_no_secrets(text, stack_secrets(stack_env))


@pytest.fixture(scope="module")
def processes(
    registry_topics: str,
    mongo_db_name: Callable[[str], str],
    evidence_bucket: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    logs = tmp_path_factory.mktemp("refusal-logs")
    common = {"SHOPWATCH_TOPIC_PREFIX": registry_topics, "SHOPWATCH_OUTBOX_POLL_INTERVAL_S": "0.2"}
    intake = start_process(
        "intake", {**common, "SHOPWATCH_MONGO_DATABASE": mongo_db_name("intake")}, logs
    )
    started = [intake]
    try:
        wait_ready(intake)
        evidence = start_process(
            "evidence",
            {
                **common,
                "SHOPWATCH_MONGO_DATABASE": mongo_db_name("evidence"),
                "SHOPWATCH_INTAKE_URL": intake.url,
                "SHOPWATCH_EVIDENCE_BUCKET": evidence_bucket,
                "SHOPWATCH_PART_SIZE_BYTES": str(5 * 1024 * 1024),
                "SHOPWATCH_PART_URL_TTL_S": str(URL_TTL_S),
                "SHOPWATCH_DOWNLOAD_URL_TTL_S": str(URL_TTL_S),
                "SHOPWATCH_VERIFY_POLL_INTERVAL_S": "0.2",
                "SHOPWATCH_SWEEP_INTERVAL_S": "0",
            },
            logs,
        )
        started.append(evidence)
        wait_ready(evidence)
        yield intake, evidence
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture(scope="module")
async def system(
    stack_env: Any,
    mongo_db_name: Callable[[str], str],
    processes: tuple[ServiceProcess, ServiceProcess],
) -> System:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url)
    try:
        admin = IntakeAdmin(MongoTenants(client[mongo_db_name("intake")]))
        made = []
        for name in ("Northmart", "Southmart"):
            retailer, key = await admin.add_retailer(name)
            store = await admin.add_store(
                retailer.retailer_id,
                name=f"{name} Durham",
                address_lines=["1 Market Place"],
                town="Durham",
                postcode="DH1 3LE",
            )
            made.append(Retailer(retailer.retailer_id, store.store_id, key.api_key))
    finally:
        await client.close()
    return System(*processes, shop=made[0], rival=made[1])


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


def report_body(store_id: str, account: str = "") -> dict[str, Any]:
    body = example_report().model_dump(mode="json")
    body.update(
        store_id=store_id,
        occurred_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        retailer_incident_ref=None,
    )
    if account:
        body["account"] = account
    return body


async def submit(http: httpx.AsyncClient, system: System, who: Retailer) -> str:
    answer = await http.post(
        f"{system.intake.url}/v1/reports", json=report_body(who.store_id), headers=who.headers
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["report_id"])


@dataclass(frozen=True)
class Media:
    name: str
    data: bytes


async def open_upload(
    http: httpx.AsyncClient, system: System, who: Retailer, report_id: str, media: Media
) -> dict[str, Any]:
    """An upload session, once evidence has learnt of the report (a 404 until then)."""
    body = {
        "file_name": media.name,
        "size": len(media.data),
        "media_type": "image/jpeg",
        "sha256": hashlib.sha256(media.data).hexdigest(),
    }
    url = f"{system.evidence.url}/v1/reports/{report_id}/evidence"
    deadline = time.monotonic() + 30
    while True:
        answer = await http.post(url, json=body, headers=who.headers)
        if answer.status_code in (200, 201) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert answer.status_code == 201, answer.text
    session: dict[str, Any] = answer.json()
    return session


@pytest.fixture(scope="module")
def jpeg(tmp_path_factory: pytest.TempPathFactory) -> Media:
    path = mf.jpeg_still(tmp_path_factory.mktemp("refusal-media") / "offender.jpg")
    data = path.read_bytes()
    # Unique to this run as a JPEG comment segment after the start marker: random bytes
    # after the end marker made FFmpeg's probe fail now and then ("Invalid data found").
    note = f"shopwatch test run {secrets.token_hex(8)}".encode()
    comment = b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note
    return Media(path.name, data[:2] + comment + data[2:])


async def test_a_key_on_another_retailers_ids_is_a_logged_404(
    system: System, http: httpx.AsyncClient, jpeg: Media, stack_env: Any
) -> None:
    report_id = await submit(http, system, system.shop)
    session = await open_upload(http, system, system.shop, report_id, jpeg)
    evidence_id = session["evidence_id"]
    rival = system.rival.headers

    mine = await http.get(f"{system.intake.url}/v1/reports/{report_id}", headers=rival)
    assert mine.status_code == 404, mine.text
    tried = [
        ("GET", f"/v1/evidence/{evidence_id}"),
        ("GET", f"/v1/evidence/{evidence_id}/download"),
        ("GET", f"/v1/evidence/{evidence_id}/parts?numbers=1"),
        ("GET", f"/v1/reports/{report_id}/evidence"),
    ]
    for method, path in tried:
        answer = await http.request(method, system.evidence.url + path, headers=rival)
        assert answer.status_code == 404, (path, answer.text)

    intake_lines = [
        line for line in system.refusals(system.intake, 404) if report_id in line["message"]
    ]
    assert [line["retailer_id"] for line in intake_lines] == [system.rival.retailer_id]
    assert intake_lines[0]["level"] == "WARNING" and "GET" in intake_lines[0]["message"]
    evidence_lines = [
        line
        for line in system.refusals(system.evidence, 404)
        if evidence_id in line["message"] or report_id in line["message"]
    ]
    assert len(evidence_lines) == len(tried), evidence_lines
    assert {line["actor"].split("/")[0] for line in evidence_lines} == {system.rival.retailer_id}
    system.assert_no_keys_logged(stack_env)


async def test_bad_keys_are_a_logged_401_and_the_key_is_not_logged(
    system: System, http: httpx.AsyncClient, stack_env: Any
) -> None:
    fake_secret = secrets.token_urlsafe(24)
    wrong = {"Authorization": f"Bearer sw_{secrets.token_hex(6)}_{fake_secret}"}
    for url in (f"{system.intake.url}/v1/me", f"{system.evidence.url}/v1/evidence/ev_x"):
        assert (await http.get(url, headers=wrong)).status_code == 401
        assert (await http.get(url)).status_code == 401
    for service in (system.intake, system.evidence):
        lines = system.refusals(service, 401)
        who = "retailer_id" if service is system.intake else "actor"
        assert len(lines) >= 2 and all(line[who] is None for line in lines), lines
        assert fake_secret not in service.log_path.read_text(errors="replace")
    system.assert_no_keys_logged(stack_env)


async def test_an_idempotency_key_replayed_with_another_body_is_a_logged_409(
    system: System, http: httpx.AsyncClient, stack_env: Any
) -> None:
    shop, url = system.shop, f"{system.intake.url}/v1/reports"
    key = f"hostile-{secrets.token_hex(6)}"
    headers = {**shop.headers, "Idempotency-Key": key}
    body = report_body(shop.store_id)
    first = await http.post(url, json=body, headers=headers)
    again = await http.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["report_id"] == again.json()["report_id"]
    other = {**body, "account": "A different incident altogether."}
    refused = await http.post(url, json=other, headers=headers)
    assert refused.status_code == 409 and key in refused.json()["detail"]
    batch = await http.post(
        f"{url}/batch",
        json={"items": [{"idempotency_key": key, "report": other}]},
        headers=shop.headers,
    )
    assert [r["status"] for r in batch.json()["results"]] == ["conflict"]
    view = await http.get(f"{url}/{first.json()['report_id']}", headers=shop.headers)
    assert view.json()["report"]["account"] != other["account"], "the first report stands"

    lines = [line for line in system.refusals(system.intake, 409)]
    assert len(lines) >= 2 and {line["retailer_id"] for line in lines} == {shop.retailer_id}
    assert any("/batch" in line["message"] for line in lines)
    system.assert_no_keys_logged(stack_env)


async def test_presigned_urls_are_refused_once_expired(
    system: System, http: httpx.AsyncClient, jpeg: Media, stack_env: Any
) -> None:
    """Storage checks the signature and its lifetime, and logs each refusal in its access
    log (an expired link never reaches our services); evidence keeps who asked for the
    download link in the continuity log."""
    shop = system.shop
    report_id = await submit(http, system, shop)
    session = await open_upload(http, system, shop, report_id, jpeg)
    evidence_id = session["evidence_id"]
    parts = await http.get(
        f"{system.evidence.url}/v1/evidence/{evidence_id}/parts",
        params={"numbers": "1"},
        headers=shop.headers,
    )
    assert parts.status_code == 200, parts.text
    part_url = parts.json()["parts"][0]["url"]
    part_issued = time.monotonic()
    put = await http.put(part_url, content=jpeg.data)
    assert put.status_code == 200, put.text
    done = await http.post(
        f"{system.evidence.url}/v1/evidence/{evidence_id}/complete", headers=shop.headers
    )
    assert done.status_code == 202, done.text
    deadline = time.monotonic() + 40
    while True:
        doc = await http.get(
            f"{system.evidence.url}/v1/evidence/{evidence_id}", headers=shop.headers
        )
        if doc.json()["status"] in ("stored", "rejected") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert doc.json()["status"] == "stored", doc.text
    link = await http.get(
        f"{system.evidence.url}/v1/evidence/{evidence_id}/download", headers=shop.headers
    )
    assert link.status_code == 200, link.text
    download_url = link.json()["url"]
    download_issued = time.monotonic()
    fresh = await http.get(download_url)
    assert fresh.status_code == 200 and fresh.content == jpeg.data

    await asyncio.sleep(max(0.0, download_issued + URL_TTL_S + 2 - time.monotonic()))
    assert time.monotonic() - part_issued > URL_TTL_S
    stale_put = await http.put(part_url, content=b"overwrite attempt")
    stale_get = await http.get(download_url)
    assert stale_put.status_code == 403, stale_put.text
    assert stale_get.status_code == 403, stale_get.text
    for answer in (stale_put, stale_get):
        assert "AccessDenied" in answer.text or "expired" in answer.text.lower(), answer.text
    if storage_access_log_kept(stack_env.s3_endpoint):
        for answer in (stale_put, stale_get):
            request_id = s3_request_id(answer.text)
            line = await access_log_line(request_id)
            assert " 403 AccessDenied " in line, line
    custody = await http.get(
        f"{system.evidence.url}/v1/evidence/{evidence_id}/custody", headers=shop.headers
    )
    downloads = [e for e in custody.json()["entries"] if e["action"] == "downloaded"]
    assert len(downloads) == 1 and downloads[0]["actor"]["id"].startswith(shop.retailer_id)


def storage_access_log_kept(s3_endpoint: str) -> bool:
    """deploy/local's S3 server writes an access log; a container's (testcontainers) or a
    cloud bucket's is elsewhere, so there is nothing to read here."""
    return s3_endpoint == f"{HOST}:{S3_PORT}" and S3_ACCESS_LOG.exists()


def s3_request_id(error_body: str) -> str:
    found = re.search(r"<RequestId>([^<]+)</RequestId>", error_body)
    assert found, f"an S3 error names its request: {error_body}"
    return found.group(1)


async def access_log_line(request_id: str, timeout_s: float = 10.0) -> str:
    """The access log's line for `request_id` (written a moment after the answer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = S3_ACCESS_LOG.read_text(errors="replace").splitlines()
        found = [line for line in lines if f" {request_id} " in line]
        if found or time.monotonic() > deadline:
            assert found, f"request {request_id} is not in {S3_ACCESS_LOG}"
            return found[-1]
        await asyncio.sleep(0.2)
