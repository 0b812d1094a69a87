"""One flow proves it: report, CCTV, the force's feed, a linked repeat offender, a crime
reference back to the retailer by email and API, the force's evidence access in the
continuity log, and nobody else seeing any of it. Every service is its own process."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import json
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka.errors import TopicAuthorizationFailedError  # type: ignore[import-untyped]
from pymongo import AsyncMongoClient

from shopwatch.evidence.admin import add_force_token
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.runtime.kafka_security import AdminConnection, grant_force_access, upsert_scram_user
from shopwatch.schemas.examples import example_report
from shopwatch.schemas.topics import force_topic
from tests.media_fixtures import h264_mp4

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OFFENDER = {
    "sex": "male",
    "age_min": 25,
    "age_max": 35,
    "height_min_cm": 175,
    "height_max_cm": 185,
    "build": "slim",
    "hair": "short ginger",
    "clothing": "black hoodie, grey joggers",
    "distinguishing_features": "tattoo of a swallow on the left hand",
    "name": "Darren Pike",
    "aliases": ["Dazza"],
    "vehicle_registration": "ND19 XKF",
}


def shopwatch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopwatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def report(store_id: str, reporter_email: str, hours_ago: int) -> dict[str, Any]:
    body = example_report().model_dump(mode="json")
    body.update(
        store_id=store_id,
        occurred_at=(datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(),
        offenders=[OFFENDER],
        cctv_available=True,
    )
    body["reporter"]["email"] = reporter_email
    return body


async def make_world(system: Any, stack_env: Any) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env.mongo_url, tz_aware=True)
    try:
        admin = IntakeAdmin(MongoTenants(client[system.databases["intake"]]))
        chain, chain_key = await admin.add_retailer("Northmart")
        stores = {}
        for force, postcode in {"durham": "DH1 3NJ", "cleveland": "TS1 1RE"}.items():
            store = await admin.add_store(
                chain.retailer_id,
                name=f"Northmart {force}",
                address_lines=["1 High St"],
                town="Town",
                postcode=postcode,
            )
            stores[force] = store.store_id
        _, other_key = await admin.add_retailer("Other Retail")
        evidence_db = client[system.databases["evidence"]]
        tokens = {f: await add_force_token(evidence_db, f) for f in ("durham", "cleveland")}
    finally:
        await client.close()
    conn = AdminConnection(stack_env.kafka_bootstrap)
    kafka_users = {}
    for force in ("durham", "cleveland"):
        user, password = f"{system.prefix}e2e-{force}", secrets.token_urlsafe(18)
        await upsert_scram_user(conn, user, password)
        await grant_force_access(conn, force, user, topic_prefix=system.prefix)
        kafka_users[force] = {
            "bootstrap_servers": stack_env.kafka_sasl_bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
    return {
        "chain": {"Authorization": f"Bearer {chain_key.api_key}"},
        "chain_key": chain_key.api_key,
        "other": {"Authorization": f"Bearer {other_key.api_key}"},
        "stores": stores,
        "tokens": tokens,
        "kafka": kafka_users,
    }


async def read_as_force(
    options: dict[str, Any], topic: str, until: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Reads a force's cases topic with the force's own SCRAM principal, as it would."""
    consumer = AIOKafkaConsumer(
        topic,
        group_id=f"{topic.rsplit('cases', 1)[0]}e2e-{secrets.token_hex(2)}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **options,
    )
    await consumer.start()
    events: list[dict[str, Any]] = []
    try:
        for _ in range(240):
            batches = await consumer.getmany(timeout_ms=500)
            events += [json.loads(r.value) for rs in batches.values() for r in rs]
            if until(events):
                break
    finally:
        await consumer.stop()
    return events


def packages(events: list[dict[str, Any]], case_id: str) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for e in events
        if e["event_type"] == "case.routed" and e["payload"]["case_id"] == case_id
    ]


def plain_bodies_to(store: Path, address: str) -> list[str]:
    """The plain-text bodies of every message the SMTP server accepted for `address`."""
    bodies = []
    for path in sorted(store.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address not in str(message.get("To", "")):
            continue
        part = message.get_body(("plain",))
        bodies.append(part.get_content() if part is not None else "")
    return bodies


async def test_the_whole_flow(
    system: Any,
    stack_env: Any,
    tmp_path: Path,
    eventually: Callable[..., Awaitable[None]],
) -> None:
    world = await make_world(system, stack_env)
    reporter = f"manager-{secrets.token_hex(4)}@northmart.example"
    intake = httpx.AsyncClient(base_url=system.url("intake"), timeout=30)
    evidence = httpx.AsyncClient(base_url=system.url("evidence"), timeout=30)

    # 1. A retailer reports a theft with an offender description and uploads the CCTV.
    first = await intake.post(
        "/v1/reports", json=report(world["stores"]["durham"], reporter, 3), headers=world["chain"]
    )
    assert first.status_code == 202, first.text
    case_id = first.json()["report_id"]
    clip = h264_mp4(tmp_path / "till-2.mp4")
    sha256 = hashlib.sha256(clip.read_bytes()).hexdigest()
    env = {
        **system.env,
        "SHOPWATCH_API_KEY": world["chain_key"],
        "SHOPWATCH_EVIDENCE_URL": system.url("evidence"),
    }
    for _ in range(20):  # evidence learns of the report from Kafka; give it a moment
        uploaded = shopwatch(env, "upload", case_id, str(clip))
        if uploaded.returncode == 0 or "not found" not in uploaded.stderr:
            break
        await asyncio.sleep(0.5)
    assert uploaded.returncode == 0, uploaded.stderr
    assert sha256 in uploaded.stdout

    # 2. The case reaches Durham once per change, with the verified evidence hash.
    durham_topic = f"{system.prefix}{force_topic('durham')}"
    events = await read_as_force(
        world["kafka"]["durham"],
        durham_topic,
        lambda es: any(p["evidence"] for p in packages(es, case_id)),
    )
    mine = packages(events, case_id)
    sequences = [p["sequence"] for p in mine]
    assert len(sequences) == len(set(sequences)), f"a package was delivered twice: {sequences}"
    with_evidence = next(p for p in mine if p["evidence"])
    assert with_evidence["evidence"][0]["sha256"] == sha256
    evidence_id = with_evidence["evidence"][0]["evidence_id"]

    # 3. The same offender at a Cleveland store comes back linked to the Durham case.
    second = await intake.post(
        "/v1/reports",
        json=report(world["stores"]["cleveland"], reporter, 1),
        headers=world["chain"],
    )
    assert second.status_code == 202
    second_id = second.json()["report_id"]
    cleveland_topic = f"{system.prefix}{force_topic('cleveland')}"
    cleveland_events = await read_as_force(
        world["kafka"]["cleveland"],
        cleveland_topic,
        lambda es: any(p["offender_links"] for p in packages(es, second_id)),
    )
    linked = [p for p in packages(cleveland_events, second_id) if p["offender_links"]]
    assert linked, "the second report was never linked"
    link = linked[-1]["offender_links"][0]
    assert case_id in [c["case_id"] for c in link["linked_cases"]]
    assert not packages(cleveland_events, case_id), "Cleveland received Durham's case"

    # 4. Durham records a crime; the retailer hears about it once, by email and API.
    crime_ref = f"DUR/{secrets.randbelow(99999):05d}/26"
    force_env = {
        **system.env,
        "SHOPWATCH_FORCE_PASSWORD": world["kafka"]["durham"]["sasl_plain_password"],
    }
    sent = shopwatch(
        force_env,
        "force",
        "update",
        case_id,
        "--force",
        "durham",
        "--status",
        "crime_recorded",
        "--crime-ref",
        crime_ref,
        "--user",
        world["kafka"]["durham"]["sasl_plain_username"],
    )
    assert sent.returncode == 0, sent.stderr

    async def recorded() -> bool:
        view = (await intake.get(f"/v1/reports/{case_id}", headers=world["chain"])).json()
        return bool(view["status"] == "crime_recorded")

    await eventually(recorded, timeout_s=60, what="crime_recorded in the retailer's view")
    store = Path(stack_env.smtp_store)

    async def one_email() -> bool:
        return any(crime_ref in body for body in plain_bodies_to(store, reporter))

    await eventually(one_email, timeout_s=60, what="the crime-recorded email")
    await asyncio.sleep(3)  # a duplicate would arrive now
    with_ref = [body for body in plain_bodies_to(store, reporter) if crime_ref in body]
    assert len(with_ref) == 1

    # 5. The force downloads the footage with a reason; the continuity log shows it.
    force_headers = {"Authorization": f"Bearer {world['tokens']['durham']}"}
    download = await evidence.get(
        f"/v1/evidence/{evidence_id}/download",
        params={"reason": f"investigating {crime_ref}"},
        headers=force_headers,
    )
    assert download.status_code == 200, download.text
    custody = (
        await evidence.get(f"/v1/evidence/{evidence_id}/custody", headers=world["chain"])
    ).json()
    assert custody["verification"]["ok"] is True
    force_entries = [e for e in custody["entries"] if e["actor"].get("kind") == "force"]
    assert any(crime_ref in (e["reason"] or "") for e in force_entries)

    # 6. Nobody else sees any of it.
    assert (await intake.get(f"/v1/reports/{case_id}", headers=world["other"])).status_code == 404
    assert (
        await evidence.get(f"/v1/evidence/{evidence_id}", headers=world["other"])
    ).status_code == 404
    cleveland_headers = {"Authorization": f"Bearer {world['tokens']['cleveland']}"}
    other_force = await evidence.get(
        f"/v1/evidence/{evidence_id}/download",
        params={"reason": "curious"},
        headers=cleveland_headers,
    )
    assert other_force.status_code == 404
    with pytest.raises(TopicAuthorizationFailedError):
        await read_as_force(world["kafka"]["cleveland"], durham_topic, lambda es: True)
    await intake.aclose()
    await evidence.aclose()
