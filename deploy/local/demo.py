"""Demo data for `make up`: topics, a national chain and a corner shop, three forces' Kafka
users, demo reports with a short CCTV clip, and a guide to where to look.

`prepare` runs before the services start (topics must exist before consumers subscribe);
`seed` runs after. Both are safe to run again: what was made is kept in
`.cache/local/demo.json` and reused, and reports are sent with fixed idempotency keys.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deploy.local.config import CACHE, HOST, MAIL
from shopwatch.intake.adapters.mongo_tenants import MongoTenants
from shopwatch.intake.admin import IntakeAdmin
from shopwatch.intake.config import IntakeSettings
from shopwatch.runtime.db import mongo_client, service_database
from shopwatch.runtime.kafka_security import AdminConnection, grant_force_access, upsert_scram_user
from shopwatch.runtime.provisioning import ensure_topics
from shopwatch.schemas.examples import example_report

DEMO_FILE = CACHE / "demo.json"
INTAKE_URL = f"http://{HOST}:8001"
FORCES = ("durham", "cleveland", "northumbria")
CHAIN_STORES = {
    "durham": ("Northmart Durham Market Place", ["12 Market Place"], "Durham", "DH1 3NJ"),
    "cleveland": ("Northmart Middlesbrough", ["40 Linthorpe Road"], "Middlesbrough", "TS1 1RE"),
    "northumbria": ("Northmart Newcastle Grey St", ["5 Grey Street"], "Newcastle", "NE1 6EE"),
}
CORNER_SHOP = ("Patel's Corner Shop", ["3 Front Street"], "Chester-le-Street", "DH3 3BJ")


def say(message: str) -> None:
    print(message, flush=True)


def load_state() -> dict[str, Any]:
    return json.loads(DEMO_FILE.read_text()) if DEMO_FILE.exists() else {}


def save_state(state: dict[str, Any]) -> None:
    tmp = DEMO_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)  # it holds demo API keys and force passwords
    tmp.replace(DEMO_FILE)


async def prepare() -> dict[str, Any]:
    state = load_state()
    bootstrap = os.environ.get("SHOPWATCH_KAFKA_BOOTSTRAP", f"{HOST}:9092")
    say("demo: creating topics from the registry ...")
    result = await ensure_topics(bootstrap)
    say(f"demo: topics: {len(result.created)} created, {len(result.already_present)} present")
    settings = IntakeSettings()
    client = mongo_client(settings)
    try:
        tenants = MongoTenants(service_database(client, settings.database_name))
        await tenants.ensure_indexes()
        admin = IntakeAdmin(tenants)
        if (
            not state.get("chain")
            or await tenants.get_retailer(state["chain"]["retailer_id"]) is None
        ):
            state["chain"] = await _retailer(admin, "Northmart", CHAIN_STORES)
            state["corner_shop"] = await _retailer(
                admin, "Patel's Corner Shop", {"durham": CORNER_SHOP}
            )
            save_state(state)
            say("demo: retailers, stores and API keys created")
        else:
            say("demo: retailers already there, reusing them")
    finally:
        await client.close()
    conn = AdminConnection(bootstrap)
    forces = state.setdefault("forces", {})
    for slug in FORCES:
        entry = forces.setdefault(
            slug, {"user": f"force-{slug}", "password": secrets.token_urlsafe(18)}
        )
        await upsert_scram_user(conn, entry["user"], entry["password"])
        await grant_force_access(conn, slug, entry["user"])
    save_state(state)
    say(f"demo: Kafka users and ACLs for {', '.join(FORCES)}")
    return state


async def _retailer(admin: IntakeAdmin, name: str, stores: dict[str, Any]) -> dict[str, Any]:
    retailer, key = await admin.add_retailer(name)
    made = {}
    for force, (store_name, lines, town, postcode) in stores.items():
        store = await admin.add_store(
            retailer.retailer_id, name=store_name, address_lines=lines, town=town, postcode=postcode
        )
        made[force] = store.store_id
    return {"retailer_id": retailer.retailer_id, "api_key": key.api_key, "stores": made}


def seed() -> dict[str, Any]:
    state = load_state()
    if not state:
        raise SystemExit("demo: run `prepare` first (make up does)")
    _wait_for(f"{INTAKE_URL}/health/ready", "intake")
    chain = state["chain"]
    reports = state.setdefault("reports", {})
    base = example_report().model_dump(mode="json")
    offender = base["offenders"][0]
    for index, force in enumerate(FORCES):
        body = {
            **base,
            "store_id": chain["stores"][force],
            "occurred_at": (datetime.now(UTC) - timedelta(hours=3 + index)).isoformat(),
            "retailer_incident_ref": f"DEMO-{index + 1}",
            # The same described offender in every store: matching should link them.
            "offenders": [offender],
        }
        reports[force] = _post_report(chain["api_key"], body, f"demo-{index + 1}")
    corner = state["corner_shop"]
    corner_body = {
        **base,
        "store_id": corner["stores"]["durham"],
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "offence_type": "threats_or_abuse_against_staff",
        "items": [],
    }
    reports["corner_shop"] = _post_report(corner["api_key"], corner_body, "demo-corner-1")
    save_state(state)
    references = ", ".join(r["reference"] for r in reports.values())
    say(f"demo: {len(reports)} reports submitted ({references})")
    _upload_clip(chain["api_key"], reports["durham"]["report_id"], state)
    save_state(state)
    return state


def _post_report(api_key: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback demo
        f"{INTAKE_URL}/v1/reports",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        answer: dict[str, Any] = json.loads(response.read())
    return {"report_id": answer["report_id"], "reference": answer["reference"]}


def _upload_clip(api_key: str, report_id: str, state: dict[str, Any]) -> None:
    if state.get("clip_uploaded_for") == report_id:
        say("demo: CCTV clip already uploaded")
        return
    try:
        _wait_for(f"http://{HOST}:8002/health/ready", "evidence", timeout_s=30)
    except SystemExit:
        say("demo: evidence service not running; skipping the CCTV upload")
        return
    from tests.media_fixtures import h264_mp4  # the same generator the tests use

    with tempfile.TemporaryDirectory() as tmp:
        clip = h264_mp4(Path(tmp) / "till-camera-2.mp4")
        say("demo: uploading a generated CCTV clip with `shopwatch upload` ...")
        done = subprocess.run(
            [sys.executable, "-m", "shopwatch.cli", "upload", report_id, str(clip)],
            env={**os.environ, "SHOPWATCH_API_KEY": api_key},
            check=False,
        )
    if done.returncode == 0:
        state["clip_uploaded_for"] = report_id
    else:
        say("demo: the CCTV upload failed (see above); the rest of the demo is fine")


def _wait_for(url: str, name: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"demo: {name} is not ready at {url} after {timeout_s:.0f}s")


def guide(state: dict[str, Any]) -> None:
    lines = [
        "",
        "Shopwatch is up. Where to look:",
        f"  intake API docs      {INTAKE_URL}/docs",
        f"  evidence API docs    http://{HOST}:8002/docs",
        "  metrics              "
        + "  ".join(f"http://{HOST}:{p}/metrics" for p in range(8001, 8006)),
        f"  emails sent (.eml)   {MAIL}",
        f"  service logs         {CACHE / 'logs'}",
        "",
        "Demo retailer Northmart (stores in Durham, Cleveland, Northumbria):",
        f"  export SHOPWATCH_API_KEY={state['chain']['api_key']}",
        f'  curl -s -H "Authorization: Bearer $SHOPWATCH_API_KEY" {INTAKE_URL}/v1/reports',
        "",
        "Each force's feed (its own SCRAM user, confined by ACLs to its own topics):",
    ]
    for slug, entry in state.get("forces", {}).items():
        lines.append(
            f"  uv run shopwatch force listen {slug} --table --user {entry['user']} "
            f"--password {entry['password']}"
        )
    lines.append("")
    lines.append("Stop everything with: make down")
    say("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.demo")
    parser.add_argument("step", choices=["prepare", "seed", "guide"])
    args = parser.parse_args(argv)
    if args.step == "prepare":
        asyncio.run(prepare())
    elif args.step == "seed":
        guide(seed())
    else:
        guide(load_state())
    return 0


if __name__ == "__main__":
    sys.exit(main())
