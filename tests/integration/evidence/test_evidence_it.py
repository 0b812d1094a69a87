"""Evidence on the real stack: S3 (versitygw), FerretDB, Kafka, and intake for real.

Intake and evidence run in this process as two services with their own databases and
their own HTTP servers on loopback ports: evidence checks retailer keys against intake's
`GET /v1/me` over HTTP and learns reports from `reports.submitted`, as in production.
The `shopwatch upload` command runs as a separate process against them. Every media file
is made here with PyAV (tests/media_fixtures.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from minio import Minio
from minio.error import S3Error
from pydantic import SecretStr

from shopwatch.evidence import media
from shopwatch.evidence.adapters.s3_store import ObjectExists
from shopwatch.evidence.admin import add_force_token, revoke_force_token
from shopwatch.evidence.app import wire as wire_evidence
from shopwatch.evidence.config import EvidenceSettings
from shopwatch.evidence.service import EvidenceService
from shopwatch.evidence.sweep import sweep
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.intake.app import wire as wire_intake
from shopwatch.intake.config import IntakeSettings
from shopwatch.runtime.service_main import Service
from shopwatch.schemas.case_status import CaseStatus
from shopwatch.schemas.enums import OutcomeKind
from shopwatch.schemas.events import CaseStatusChanged
from shopwatch.schemas.examples import example_report
from shopwatch.schemas.registry import make_envelope
from shopwatch.schemas.topics import CASES_STATUS_CHANGED, EVIDENCE_REJECTED, EVIDENCE_STORED
from tests import media_fixtures as mf

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MiB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[3]


# --- servers ----------------------------------------------------------------------------------


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """The app on a real loopback port (the CLI and evidence's intake client need one)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_config=None,
        access_log=False,
        # Longer than any pause between a test's requests, so a client never reuses a
        # connection the server is closing; and a bounded stop at the end.
        timeout_keep_alive=60,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Stack:
    def __init__(
        self,
        intake: Service[IntakeSettings],
        evidence: Service[EvidenceSettings],
        intake_url: str,
        evidence_url: str,
    ) -> None:
        self.intake, self.evidence = intake, evidence
        self.intake_url, self.evidence_url = intake_url, evidence_url

    @property
    def service(self) -> EvidenceService:
        svc: EvidenceService = self.evidence.app.state.evidence
        return svc

    @property
    def s3(self) -> Minio:
        return self.service.store.client

    @property
    def bucket(self) -> str:
        return self.service.store.bucket


@pytest.fixture(scope="module")
async def stack(
    stack_env: Any, registry_topics: str, mongo_db_name: Callable[[str], str], run_service: Any
) -> AsyncIterator[Stack]:
    common: dict[str, Any] = {
        "kafka_bootstrap": stack_env.kafka_bootstrap,
        "mongo_url": SecretStr(stack_env.mongo_url),
        "topic_prefix": registry_topics,
        "outbox_poll_interval_s": 0.2,
        "consumer_backoff_initial_s": 0.05,
        "consumer_backoff_max_s": 0.2,
    }
    intake_settings = IntakeSettings(mongo_database=mongo_db_name("intake"), **common)
    async with run_service(intake_settings, wire_intake) as intake, serving(intake.app) as iurl:
        evidence_settings = EvidenceSettings(
            mongo_database=mongo_db_name("evidence"),
            s3_endpoint=stack_env.s3_endpoint,
            s3_access_key=stack_env.s3_access_key,
            s3_secret_key=SecretStr(stack_env.s3_secret_key),
            s3_secure=stack_env.s3_secure,
            evidence_bucket=f"t-evidence-{secrets.token_hex(4)}",
            intake_url=iurl,
            part_size_bytes=5 * MiB,
            verify_poll_interval_s=0.2,
            verify_concurrency=3,
            media_thumbnails=3,
            sweep_interval_s=0,
            **common,
        )
        async with (
            run_service(evidence_settings, wire_evidence) as evidence,
            serving(evidence.app) as eurl,
        ):
            stack = Stack(intake, evidence, iurl, eurl)
            try:
                yield stack
            finally:
                await asyncio.to_thread(_empty_bucket, stack.s3, stack.bucket)


def _empty_bucket(s3: Minio, bucket: str) -> None:
    for found in s3.list_objects(bucket, recursive=True):
        name = found.object_name or ""
        with suppress(S3Error):
            s3.disable_object_legal_hold(bucket, name)
        with suppress(S3Error):
            s3.remove_object(bucket, name)
    with suppress(S3Error):
        s3.remove_bucket(bucket)


class Retailer:
    def __init__(self, retailer_id: str, store_id: str, api_key: str) -> None:
        self.retailer_id, self.store_id, self.api_key = retailer_id, store_id, api_key

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def new_retailer(stack: Stack, name: str) -> Retailer:
    admin = IntakeAdmin(MongoTenants(stack.intake.db))
    retailer, key = await admin.add_retailer(name)
    store = await admin.add_store(
        retailer.retailer_id,
        name=f"{name} Durham",
        address_lines=["1 Market Place"],
        town="Durham",
        postcode="DH1 3LE",
    )
    return Retailer(retailer.retailer_id, store.store_id, key.api_key)


@pytest.fixture(scope="module")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.evidence_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
async def shop(stack: Stack) -> Retailer:
    return await new_retailer(stack, "Northmart")


@pytest.fixture(scope="module")
async def rival(stack: Stack) -> Retailer:
    return await new_retailer(stack, "Southmart")


async def submit_report(
    stack: Stack, who: Retailer, eventually: Callable[..., Awaitable[None]]
) -> str:
    """A report through intake; returns its id once evidence has learnt of it."""
    body = example_report().model_dump(mode="json")
    body["store_id"] = who.store_id
    body["occurred_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    async with httpx.AsyncClient(base_url=stack.intake_url) as client:
        response = await client.post("/v1/reports", json=body, headers=who.headers)
    assert response.status_code == 202, response.text
    report_id = str(response.json()["report_id"])

    async def known() -> bool:
        doc = await stack.evidence.db["reports"].find_one({"_id": report_id})
        return bool(doc and doc.get("retailer_id") == who.retailer_id)

    await eventually(known, what="evidence to learn of the report")
    return report_id


@pytest.fixture(scope="module")
async def report_id(
    stack: Stack, shop: Retailer, eventually: Callable[..., Awaitable[None]]
) -> str:
    return await submit_report(stack, shop, eventually)


# --- files -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evidence-media")
    big = mf.h264_mp4(root / "till-camera.mp4", seconds=2.0)
    # A real MP4 grown past two 5 MiB parts by a trailing `free` box (random bytes, so no
    # two runs share a hash): players skip it, and the upload has several parts.
    padding = 11 * MiB
    with big.open("ab") as fh:
        fh.write((8 + padding).to_bytes(4, "big") + b"free" + os.urandom(padding))
    return {
        "big_mp4": big,
        "mkv": mf.mpeg4_mkv(root / "aisle 3 (night).mkv", seconds=2.0),
        "avi": mf.mjpeg_avi(root / "door.avi", seconds=1.0),
        "mp4": mf.h264_mp4(root / "entrance.mp4", seconds=1.0),
        "jpeg": mf.jpeg_still(root / "offender.jpg"),
        "evil": mf.disguised_executable(root / "footage.mp4"),
    }


def unique_copy(path: Path, name: str) -> Path:
    """The same media with a few random bytes in a trailing MP4 `free` box (or just
    appended, which every other container here ignores): a file no other test uploads."""
    copy = path.with_name(name)
    copy.write_bytes(path.read_bytes() + (24).to_bytes(4, "big") + b"free" + os.urandom(16))
    return copy


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def session_body(path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "file_name": path.name,
        "size": path.stat().st_size,
        "media_type": "video/mp4",
        "sha256": sha256_of(path),
        **overrides,
    }


def read_part(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(length)


async def start_upload(
    http: httpx.AsyncClient,
    who: Retailer,
    report_id: str,
    path: Path,
    **overrides: Any,
) -> httpx.Response:
    body = session_body(path, **overrides)
    return await http.post(f"/v1/reports/{report_id}/evidence", json=body, headers=who.headers)


async def put_parts(
    http: httpx.AsyncClient,
    who: Retailer,
    evidence_id: str,
    path: Path,
    numbers: list[int],
    *,
    truncate: int = 0,
) -> None:
    ranges = ",".join(str(n) for n in numbers)
    urls = await http.get(
        f"/v1/evidence/{evidence_id}/parts", params={"numbers": ranges}, headers=who.headers
    )
    assert urls.status_code == 200, urls.text
    async with httpx.AsyncClient(timeout=30.0) as s3:
        for part in urls.json()["parts"]:
            chunk = read_part(path, part["offset"], part["length"])
            if truncate:
                chunk = chunk[:-truncate]
            put = await s3.put(part["url"], content=chunk)
            assert put.status_code == 200, put.text


async def upload(
    http: httpx.AsyncClient, who: Retailer, report_id: str, path: Path, **overrides: Any
) -> str:
    started = await start_upload(http, who, report_id, path, **overrides)
    assert started.status_code == 201, started.text
    session = started.json()
    await put_parts(
        http, who, session["evidence_id"], path, list(range(1, session["part_count"] + 1))
    )
    done = await http.post(f"/v1/evidence/{session['evidence_id']}/complete", headers=who.headers)
    assert done.status_code == 202, done.text
    return str(session["evidence_id"])


async def verdict(
    http: httpx.AsyncClient, who: Retailer, evidence_id: str, timeout_s: float = 40.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await http.get(f"/v1/evidence/{evidence_id}", headers=who.headers)
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        if doc["status"] in ("stored", "rejected"):
            return doc
        await asyncio.sleep(0.2)
    raise AssertionError(f"evidence {evidence_id} was not verified within {timeout_s}s")


def cli(stack: Stack, who: Retailer, *args: str) -> list[str]:
    return [sys.executable, "-m", "shopwatch.cli", "--json", "upload", *args]


def cli_env(stack: Stack, who: Retailer) -> dict[str, str]:
    return {
        **os.environ,
        "SHOPWATCH_EVIDENCE_URL": stack.evidence_url,
        "SHOPWATCH_API_KEY": who.api_key,
    }


async def parts_held(http: httpx.AsyncClient, who: Retailer, evidence_id: str) -> int:
    response = await http.get(f"/v1/evidence/{evidence_id}/uploaded", headers=who.headers)
    return len(response.json()["parts"]) if response.status_code == 200 else 0


# --- tests -------------------------------------------------------------------------------------


async def test_interrupted_cli_upload_resumes_and_the_server_hash_matches(
    stack: Stack,
    http: httpx.AsyncClient,
    shop: Retailer,
    report_id: str,
    files: dict[str, Path],
) -> None:
    path = files["big_mp4"]
    env = cli_env(stack, shop)
    # A slow line (1 MiB/s, one part at a time), cut off once storage holds a part.
    first = await asyncio.create_subprocess_exec(
        *cli(stack, shop, report_id, str(path), "--parallel", "1", "--limit-rate", "2M"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        evidence_id = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and first.returncode is None:
            docs = await stack.evidence.db["evidence"].find({"report_id": report_id}).to_list(50)
            mine = [d for d in docs if d["file_name"] == path.name]
            if mine and await parts_held(http, shop, mine[0]["_id"]) >= 1:
                evidence_id = mine[0]["_id"]
                break
            await asyncio.sleep(0.1)
        assert evidence_id is not None, "the first run never got a part into storage"
        first.send_signal(signal.SIGKILL)
    finally:
        with suppress(ProcessLookupError):
            first.kill()
        await asyncio.wait_for(first.wait(), 10)
    held = await parts_held(http, shop, evidence_id)
    assert 1 <= held < 3
    state = (await http.get(f"/v1/evidence/{evidence_id}", headers=shop.headers)).json()
    assert state["status"] == "initiated"

    second = await asyncio.to_thread(
        subprocess.run,
        cli(stack, shop, report_id, str(path)),
        env=env,
        capture_output=True,
        timeout=90,
    )
    assert second.returncode == 0, second.stderr.decode()
    result = json.loads(second.stdout)["files"][0]
    assert result["evidence_id"] == evidence_id and result["resumed"] is True
    assert result["parts_already_uploaded"] == held
    assert result["parts_sent"] == 3 - held
    assert result["status"] == "stored"
    assert result["sha256"] == sha256_of(path)  # computed by the server, matches the file
    stored = await stack.evidence.db["evidence"].find_one({"_id": evidence_id})
    assert stored is not None and stored["sha256"] == sha256_of(path)
    assert stored["verification"]["hash_seconds"] >= 0

    third = await asyncio.to_thread(
        subprocess.run, cli(stack, shop, report_id, str(path)), env=env, capture_output=True
    )
    assert third.returncode == 0  # already stored: nothing sent again, same answer
    again = json.loads(third.stdout)["files"][0]
    assert (again["evidence_id"], again["parts_sent"]) == (evidence_id, 0)


async def test_non_mp4_container_gets_playable_derivatives(
    stack: Stack,
    http: httpx.AsyncClient,
    shop: Retailer,
    report_id: str,
    files: dict[str, Path],
    read_topic: Callable[..., Awaitable[list[Any]]],
    tmp_path: Path,
) -> None:
    path = files["mkv"]
    evidence_id = await upload(
        http, shop, report_id, path, media_type="video/x-matroska", stills_at_seconds=[1.0]
    )
    doc = await verdict(http, shop, evidence_id)
    assert doc["status"] == "stored", doc
    assert doc["media_type"] == "video/x-matroska"
    assert doc["media"]["video_codec"] == "mpeg4" and doc["media"]["width"] == 320
    kinds = sorted(d["kind"] for d in doc["derivatives"])
    assert kinds == ["PREVIEW", "STILL", "THUMBS"]
    ref = doc["exhibit_ref"].replace("/", "_")
    for derivative in doc["derivatives"]:
        assert derivative["file_name"].startswith(f"{ref}-{derivative['kind']}-")
        link = await http.get(
            f"/v1/evidence/{evidence_id}/download",
            params={"derivative": derivative["derivative_id"]},
            headers=shop.headers,
        )
        assert link.status_code == 200, link.text
        async with httpx.AsyncClient() as s3:
            body = (await s3.get(link.json()["url"])).content
        assert hashlib.sha256(body).hexdigest() == derivative["sha256"]
        local = tmp_path / derivative["file_name"]
        local.write_bytes(body)
        facts = media.probe(local)  # it plays
        if derivative["kind"] == "PREVIEW":
            assert (facts.container, facts.video_codec) == ("mp4", "h264")
            assert media.is_browser_playable(facts)
            assert facts.duration_s is not None and facts.duration_s > 1.5
        else:
            assert facts.is_image
    topic = stack.evidence.settings.topic(EVIDENCE_STORED)
    records = await read_topic(
        topic,
        until=lambda rs: any(
            json.loads(r.value)["payload"]["evidence_id"] == evidence_id for r in rs
        ),
    )
    event = next(
        json.loads(r.value)["payload"]
        for r in records
        if json.loads(r.value)["payload"]["evidence_id"] == evidence_id
    )
    assert event["sha256"] == sha256_of(path) and event["exhibit_ref"] == doc["exhibit_ref"]
    assert {d["kind"] for d in event["derivatives"]} == {"preview", "still", "thumbnail_strip"}
    assert event["media"]["container"] == "matroska"


async def test_browser_playable_mp4_and_stills_need_no_preview(
    http: httpx.AsyncClient, shop: Retailer, report_id: str, files: dict[str, Path]
) -> None:
    mp4 = await verdict(http, shop, await upload(http, shop, report_id, files["mp4"]))
    assert mp4["status"] == "stored" and [d["kind"] for d in mp4["derivatives"]] == ["THUMBS"]
    jpeg = await verdict(
        http,
        shop,
        await upload(http, shop, report_id, files["jpeg"], media_type="image/jpeg"),
    )
    assert jpeg["status"] == "stored" and jpeg["media"]["is_image"] and not jpeg["derivatives"]
    avi = await verdict(
        http, shop, await upload(http, shop, report_id, files["avi"], media_type="video/mp4")
    )
    # Declared as MP4, really an AVI: accepted (recorders mislabel), recorded as what it is.
    assert avi["status"] == "stored" and avi["media_type"] == "video/x-msvideo"


async def test_mismatched_hash_and_disguised_executable_are_rejected(
    stack: Stack,
    http: httpx.AsyncClient,
    shop: Retailer,
    report_id: str,
    files: dict[str, Path],
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    wrong = "0" * 64
    mismatched = await upload(http, shop, report_id, files["mp4"], sha256=wrong)
    evil = await upload(http, shop, report_id, files["evil"])
    doc = await verdict(http, shop, mismatched)
    assert doc["status"] == "rejected" and doc["rejection"]["reason"] == "hash_mismatch"
    assert doc["sha256"] is None  # nothing unverified is presented as the exhibit's hash
    doc = await verdict(http, shop, evil)
    assert doc["status"] == "rejected" and doc["rejection"]["reason"] == "executable_content"
    assert "ELF" in doc["rejection"]["detail"]
    link = await http.get(f"/v1/evidence/{evil}/download", headers=shop.headers)
    assert link.status_code == 409  # a rejected upload is never handed out
    topic = stack.evidence.settings.topic(EVIDENCE_REJECTED)

    def both(records: list[Any]) -> bool:
        ids = {json.loads(r.value)["payload"]["evidence_id"] for r in records}
        return {mismatched, evil} <= ids

    records = await read_topic(topic, until=both)
    payloads = {p["evidence_id"]: p for p in (json.loads(r.value)["payload"] for r in records)}
    assert payloads[mismatched]["reason"] == "hash_mismatch"
    assert payloads[mismatched]["computed_sha256"] == sha256_of(files["mp4"])
    assert payloads[evil]["reason"] == "executable_content"
    # After a rejection the same file can be uploaded again, as a new item.
    retry = await start_upload(http, shop, report_id, files["evil"])
    assert retry.status_code == 201 and retry.json()["evidence_id"] != evil


async def test_continuity_log_verifies_and_a_tampered_entry_is_detected(
    stack: Stack, http: httpx.AsyncClient, shop: Retailer, report_id: str, files: dict[str, Path]
) -> None:
    path = unique_copy(files["mp4"], "log-test.mp4")
    evidence_id = await upload(http, shop, report_id, path)
    await verdict(http, shop, evidence_id)
    link = await http.get(f"/v1/evidence/{evidence_id}/download", headers=shop.headers)
    assert link.status_code == 200
    log = (await http.get(f"/v1/evidence/{evidence_id}/custody", headers=shop.headers)).json()
    assert log["verification"] == {"ok": True, "first_bad_seq": None, "problem": None}
    actions = [e["action"] for e in log["entries"]]
    assert actions[:2] == ["uploaded", "verified"] and "derived" in actions
    assert actions[-1] == "downloaded"
    assert log["head"]["seq"] == len(log["entries"])
    custody = stack.evidence.db["custody"]
    changed = await custody.update_one(
        {"evidence_id": evidence_id, "seq": 2}, {"$set": {"details.sha256": "f" * 64}}
    )
    assert changed.modified_count == 1
    tampered = (await http.get(f"/v1/evidence/{evidence_id}/custody", headers=shop.headers)).json()
    assert tampered["verification"]["ok"] is False
    assert tampered["verification"]["first_bad_seq"] == 2
    assert "altered" in tampered["verification"]["problem"]
    # Cutting the newest entries off is detected too: the head lives on the item.
    await custody.update_one(
        {"evidence_id": evidence_id, "seq": 2},
        {"$set": {"details.sha256": sha256_of(path)}},
    )
    last = log["head"]["seq"]
    await custody.delete_one({"evidence_id": evidence_id, "seq": last})
    cut = (await http.get(f"/v1/evidence/{evidence_id}/custody", headers=shop.headers)).json()
    assert cut["verification"]["ok"] is False
    assert "removed" in cut["verification"]["problem"]


async def test_another_retailer_gets_404_everywhere(
    stack: Stack,
    http: httpx.AsyncClient,
    shop: Retailer,
    rival: Retailer,
    report_id: str,
    files: dict[str, Path],
) -> None:
    started = await start_upload(http, shop, report_id, files["jpeg"], media_type="image/jpeg")
    evidence_id = started.json()["evidence_id"]
    for method, url in [
        ("GET", f"/v1/evidence/{evidence_id}"),
        ("GET", f"/v1/evidence/{evidence_id}/parts?numbers=1"),
        ("GET", f"/v1/evidence/{evidence_id}/uploaded"),
        ("POST", f"/v1/evidence/{evidence_id}/complete"),
        ("GET", f"/v1/evidence/{evidence_id}/download"),
        ("GET", f"/v1/evidence/{evidence_id}/custody"),
        ("GET", f"/v1/reports/{report_id}/evidence"),
        ("GET", "/v1/evidence/ev_doesnotexist"),
    ]:
        response = await http.request(method, url, headers=rival.headers)
        assert response.status_code == 404, (method, url, response.text)
    theirs = await start_upload(http, rival, report_id, files["jpeg"], media_type="image/jpeg")
    assert theirs.status_code == 404
    assert (
        theirs.json()["detail"]
        == (
            await http.post(
                "/v1/reports/rep_unknown/evidence",
                json={
                    "file_name": "a.jpg",
                    "size": 1,
                    "media_type": "image/jpeg",
                    "sha256": "a" * 64,
                },
                headers=rival.headers,
            )
        ).json()["detail"]
    )  # "not yours" and "not there" read the same
    assert (await http.get(f"/v1/evidence/{evidence_id}")).status_code == 401


async def test_a_force_sees_its_cases_evidence_with_a_reason_and_is_logged(
    stack: Stack,
    http: httpx.AsyncClient,
    shop: Retailer,
    files: dict[str, Path],
    publish: Callable[..., Awaitable[None]],
    eventually: Callable[..., Awaitable[None]],
) -> None:
    report_id = await submit_report(stack, shop, eventually)
    evidence_id = await upload(http, shop, report_id, unique_copy(files["mp4"], "force.mp4"))
    assert (await verdict(http, shop, evidence_id))["status"] == "stored"
    durham = {"Authorization": f"Bearer {await add_force_token(stack.evidence.db, 'durham')}"}
    cleveland_token = await add_force_token(stack.evidence.db, "cleveland")
    cleveland = {"Authorization": f"Bearer {cleveland_token}"}
    why = {"reason": "Investigating shop theft DUR/123/26"}
    url = f"/v1/evidence/{evidence_id}"
    assert (await http.get(url, params=why, headers=durham)).status_code == 404  # not routed

    change = CaseStatusChanged(
        case_id=report_id,
        report_id=report_id,
        reference="SW-20260101-000001",
        retailer_id=shop.retailer_id,
        store_id=shop.store_id,
        sequence=1,
        force="durham",
        previous_status=CaseStatus.SUBMITTED,
        status=CaseStatus.ROUTED,
        changed_at=datetime.now(UTC),
    )
    topic = stack.evidence.settings.topic(CASES_STATUS_CHANGED)
    await publish(topic, make_envelope(change, producer="routing").model_dump_json().encode())

    async def visible() -> bool:
        return (await http.get(url, params=why, headers=durham)).status_code == 200

    await eventually(visible, what="the force to see its case's evidence")
    no_reason = await http.get(url, headers=durham)
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    assert (await http.get(url, params=why, headers=cleveland)).status_code == 404
    listing = await http.get(
        f"/v1/reports/{report_id}/evidence",
        headers={**durham, "X-Access-Reason": "case review"},
    )
    assert [e["evidence_id"] for e in listing.json()["evidence"]] == [evidence_id]
    link = await http.get(f"{url}/download", params=why, headers=durham)
    assert link.status_code == 200
    log = (await http.get(f"{url}/custody", params=why, headers=durham)).json()
    assert log["verification"]["ok"] is True
    by_action = {e["action"]: e for e in log["entries"]}
    assert by_action["shared_with_force"]["details"]["force"] == "durham"
    force_entries = [e for e in log["entries"] if e["actor"]["kind"] == "force"]
    assert {e["action"] for e in force_entries} == {"accessed", "downloaded"}
    assert all(e["actor"]["id"].startswith("durham/") and e["reason"] for e in force_entries)
    assert any(e["reason"] == why["reason"] for e in force_entries)
    # Forces read; they do not upload or change anything.
    edit = await http.patch(url, json={"exhibit_ref": "XX/9"}, headers=durham)
    assert edit.status_code == 403
    await revoke_force_token(stack.evidence.db, cleveland_token)
    assert (await http.get(url, params=why, headers=cleveland)).status_code == 401
    # An officer asks for a still of the moment that matters; it is made in the background.
    asked = await http.post(f"{url}/stills", params=why, json={"at_seconds": [0.5]}, headers=durham)
    assert asked.status_code == 202, asked.text

    async def still_made() -> bool:
        doc = (await http.get(url, params=why, headers=durham)).json()
        return any(d["kind"] == "STILL" for d in doc["derivatives"])

    await eventually(still_made, what="the requested still")
    doc = (await http.get(url, params=why, headers=durham)).json()
    still = next(d for d in doc["derivatives"] if d["kind"] == "STILL")
    assert still["file_name"].endswith("-STILL-1.jpg") and abs(still["at_seconds"] - 0.5) <= 0.04
    log = (await http.get(f"{url}/custody", params=why, headers=durham)).json()
    assert log["verification"]["ok"] and log["entries"][-1]["action"] in ("derived", "accessed")
    assert any(
        e["action"] == "derived" and e["details"]["derivative_id"] == still["derivative_id"]
        for e in log["entries"]
    )


async def test_bad_input_gets_a_clear_4xx_naming_the_field(
    http: httpx.AsyncClient, shop: Retailer, report_id: str, files: dict[str, Path]
) -> None:
    path = files["big_mp4"]

    async def refused(status: int, field: str, **overrides: Any) -> None:
        response = await start_upload(http, shop, report_id, path, **overrides)
        assert response.status_code == status, (overrides, response.text)
        assert response.json()["field"] == field, response.json()

    await refused(400, "size", size=0)
    await refused(413, "size", size=60 * 1024**3)
    await refused(400, "file_name", file_name="../../etc/passwd.mp4")
    await refused(400, "file_name", file_name="cam\\1.mp4")
    await refused(400, "file_name", file_name="cam\x07.mp4")
    await refused(400, "file_name", file_name="evil\u202e4pm.exe")
    await refused(400, "sha256", sha256="not-a-hash")
    await refused(400, "media_type", media_type="text/html")
    unknown = await start_upload(http, shop, "rep_not_yet_seen", path)
    assert unknown.status_code == 404 and "retry in a few seconds" in unknown.json()["detail"]
    not_json = await http.post(
        f"/v1/reports/{report_id}/evidence", content=b"{", headers=shop.headers
    )
    assert not_json.status_code == 422

    path = unique_copy(path, "partial.mp4")
    started = await start_upload(http, shop, report_id, path)
    evidence_id = started.json()["evidence_id"]
    bad_numbers = await http.get(
        f"/v1/evidence/{evidence_id}/parts", params={"numbers": "0,9"}, headers=shop.headers
    )
    assert bad_numbers.status_code == 400 and bad_numbers.json()["field"] == "numbers"
    await put_parts(http, shop, evidence_id, path, [1])
    missing = await http.post(f"/v1/evidence/{evidence_id}/complete", headers=shop.headers)
    assert missing.status_code == 409 and missing.json()["field"] == "parts"
    assert "missing parts 2, 3" in missing.json()["detail"]
    await put_parts(http, shop, evidence_id, path, [2], truncate=1000)  # a truncated part
    await put_parts(http, shop, evidence_id, path, [3])
    short = await http.post(f"/v1/evidence/{evidence_id}/complete", headers=shop.headers)
    assert short.status_code == 409 and "wrong size 2" in short.json()["detail"]
    await put_parts(http, shop, evidence_id, path, [2])  # the resend replaces the part
    done = await http.post(f"/v1/evidence/{evidence_id}/complete", headers=shop.headers)
    assert done.status_code == 202, done.text
    twice = await http.post(f"/v1/evidence/{evidence_id}/complete", headers=shop.headers)
    assert twice.status_code == 409 and twice.json()["field"] == "status"
    late = await http.get(
        f"/v1/evidence/{evidence_id}/parts", params={"numbers": "1"}, headers=shop.headers
    )
    assert late.status_code == 409
    assert (await verdict(http, shop, evidence_id))["status"] == "stored"


async def test_the_master_is_never_overwritten(
    stack: Stack, http: httpx.AsyncClient, shop: Retailer, report_id: str, files: dict[str, Path]
) -> None:
    master = unique_copy(files["jpeg"], "master.jpg")
    evidence_id = await upload(http, shop, report_id, master, media_type="image/jpeg")
    doc = await stack.evidence.db["evidence"].find_one({"_id": evidence_id})
    assert doc is not None
    store = stack.service.store
    with pytest.raises(ObjectExists):  # S3 conditional write (If-None-Match: *) refuses
        await asyncio.to_thread(store.put_file, doc["master_key"], files["evil"], "image/jpeg")
    with pytest.raises(ObjectExists):  # and so does opening a new upload onto the key
        await asyncio.to_thread(store.initiate, doc["master_key"], "image/jpeg")
    if store.lock_enabled:  # versitygw honours Object Lock legal holds
        assert doc["legal_hold"] is True
        with pytest.raises(S3Error):
            await asyncio.to_thread(stack.s3.remove_object, stack.bucket, doc["master_key"])
    body = await asyncio.to_thread(
        lambda: stack.s3.get_object(stack.bucket, doc["master_key"]).read()
    )
    assert hashlib.sha256(body).hexdigest() == sha256_of(master)


async def test_retention_sweep_deletes_expired_evidence_and_logs_it(
    stack: Stack,
    http: httpx.AsyncClient,
    shop: Retailer,
    files: dict[str, Path],
    eventually: Callable[..., Awaitable[None]],
    publish: Callable[..., Awaitable[None]],
) -> None:
    report_id = await submit_report(stack, shop, eventually)
    evidence_id = await upload(http, shop, report_id, unique_copy(files["mp4"], "old.mp4"))
    doc = await verdict(http, shop, evidence_id)
    assert doc["status"] == "stored"
    long_ago = datetime.now(UTC) - timedelta(days=3 * 365)
    closed = CaseStatusChanged(
        case_id=report_id,
        report_id=report_id,
        reference="SW-20230101-000001",
        retailer_id=shop.retailer_id,
        store_id=shop.store_id,
        sequence=5,
        force="durham",
        outcome=OutcomeKind.NO_FURTHER_ACTION,
        status=CaseStatus.OUTCOME_RECORDED,
        changed_at=long_ago,
    )
    topic = stack.evidence.settings.topic(CASES_STATUS_CHANGED)
    await publish(topic, make_envelope(closed, producer="routing").model_dump_json().encode())

    async def outcome_known() -> bool:
        report = await stack.evidence.db["reports"].find_one({"_id": report_id})
        return bool(report and report.get("outcome") == "no_further_action")

    await eventually(outcome_known, what="the outcome to reach evidence")
    await stack.evidence.db["evidence"].update_one(
        {"_id": evidence_id}, {"$set": {"stored_at": long_ago}}
    )
    stored = await stack.evidence.db["evidence"].find_one({"_id": evidence_id})
    assert stored is not None
    report = await sweep(stack.service, datetime.now(UTC))
    assert report.retention >= 1 and report.failed == 0
    after = (await http.get(f"/v1/evidence/{evidence_id}", headers=shop.headers)).json()
    assert after["status"] == "deleted"
    assert await asyncio.to_thread(stack.service.store.stat, stored["master_key"]) is None
    for derivative in stored["derivatives"]:
        assert await asyncio.to_thread(stack.service.store.stat, derivative["key"]) is None
    log = (await http.get(f"/v1/evidence/{evidence_id}/custody", headers=shop.headers)).json()
    assert log["verification"]["ok"] is True
    deleted = log["entries"][-1]
    assert deleted["action"] == "deleted" and "retention period ended" in deleted["reason"]
    gone = await http.get(f"/v1/evidence/{evidence_id}/download", headers=shop.headers)
    assert gone.status_code == 410


async def test_exhibit_references_are_allocated_and_editable(
    http: httpx.AsyncClient, shop: Retailer, report_id: str, files: dict[str, Path]
) -> None:
    one = (await start_upload(http, shop, report_id, files["avi"], file_name="e1.avi")).json()
    two_path = files["jpeg"]
    two = (
        await start_upload(
            http,
            shop,
            report_id,
            two_path,
            file_name="e2.jpg",
            media_type="image/jpeg",
            sha256=hashlib.sha256(two_path.read_bytes() + b"x").hexdigest(),
        )
    ).json()
    assert one["exhibit_ref"].startswith("AM/") and two["exhibit_ref"].startswith("AM/")
    assert one["exhibit_ref"] != two["exhibit_ref"]
    taken = await http.patch(
        f"/v1/evidence/{two['evidence_id']}",
        json={"exhibit_ref": one["exhibit_ref"]},
        headers=shop.headers,
    )
    assert taken.status_code == 409 and taken.json()["field"] == "exhibit_ref"
    bad = await http.patch(
        f"/v1/evidence/{two['evidence_id']}", json={"exhibit_ref": "a/b/c"}, headers=shop.headers
    )
    assert bad.status_code == 400 and bad.json()["field"] == "exhibit_ref"
    ok = await http.patch(
        f"/v1/evidence/{two['evidence_id']}", json={"exhibit_ref": "am/77"}, headers=shop.headers
    )
    assert ok.status_code == 200 and ok.json()["exhibit_ref"] == "AM/77"
    log = (
        await http.get(f"/v1/evidence/{two['evidence_id']}/custody", headers=shop.headers)
    ).json()
    assert log["entries"][-1]["action"] == "exhibit_ref_changed"
    assert log["entries"][-1]["details"]["to"] == "AM/77"


async def test_an_upload_session_that_vanished_from_storage_can_be_started_again(
    stack: Stack, http: httpx.AsyncClient, shop: Retailer, report_id: str, files: dict[str, Path]
) -> None:
    path = unique_copy(files["mp4"], "vanished.mp4")
    first = (await start_upload(http, shop, report_id, path)).json()
    doc = await stack.evidence.db["evidence"].find_one({"_id": first["evidence_id"]})
    assert doc is not None
    # A bucket lifecycle rule (or an operator) aborts the multipart upload.
    await asyncio.to_thread(stack.service.store.abort, doc["master_key"], doc["upload_id"])
    gone = await http.get(f"/v1/evidence/{first['evidence_id']}/uploaded", headers=shop.headers)
    assert gone.status_code == 410 and gone.json()["code"] == "upload_gone"
    again = await start_upload(http, shop, report_id, path)
    assert again.status_code == 201 and again.json()["evidence_id"] != first["evidence_id"]
    log = (
        await http.get(f"/v1/evidence/{first['evidence_id']}/custody", headers=shop.headers)
    ).json()
    assert log["verification"]["ok"] and log["entries"][-1]["action"] == "deleted"
