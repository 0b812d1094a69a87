import asyncio

import httpx
from fastapi import FastAPI

from shopwatch.runtime.health import Health
from shopwatch.runtime.metrics import EVENTS_PROCESSED
from shopwatch.runtime.ops_app import create_ops_app


async def ok() -> None:
    return None


async def refused() -> None:
    raise ConnectionRefusedError("[Errno 111] Connection refused")


async def hangs() -> None:
    await asyncio.sleep(30)


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_ready_when_every_probe_passes() -> None:
    health = Health(timeout_s=0.2)
    health.add_probe("kafka", ok)
    health.add_probe("mongo", ok)
    async with client(create_ops_app(health)) as http:
        response = await http.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "failing": [],
        "checks": {"kafka": "ok", "mongo": "ok"},
    }


async def test_503_names_failing_and_timed_out_probes_and_conditions() -> None:
    health = Health(timeout_s=0.2)
    health.add_probe("kafka", ok)
    health.add_probe("mongo", refused)
    health.add_probe("s3", hangs)
    health.set_not_ready("consumer:t", "stopped: too many dead letters")
    async with client(create_ops_app(health)) as http:
        started = asyncio.get_running_loop().time()
        response = await http.get("/health/ready")
        elapsed = asyncio.get_running_loop().time() - started
        live = await http.get("/health/live")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["mongo", "s3", "consumer:t"]
    assert body["checks"]["mongo"].startswith("ConnectionRefusedError")
    assert body["checks"]["s3"] == "timed out after 0.2s"
    assert body["checks"]["consumer:t"] == "stopped: too many dead letters"
    assert elapsed < 1.0, "probes run concurrently, each bounded by the timeout"
    assert live.status_code == 200


async def test_condition_can_be_cleared() -> None:
    health = Health()
    health.set_not_ready("x", "why")
    health.clear("x")
    assert await health.check() == []


def test_probe_names_are_unique() -> None:
    health = Health()
    health.add_probe("kafka", ok)
    try:
        health.add_probe("kafka", ok)
    except ValueError as exc:
        assert "kafka" in str(exc)
    else:
        raise AssertionError("a duplicate probe name must be refused")


async def test_metrics_exposition() -> None:
    EVENTS_PROCESSED.labels("unit.ops", "g").inc()
    async with client(create_ops_app(Health())) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'shopwatch_events_processed_total{group="g",topic="unit.ops"} 1.0' in response.text
    assert "# TYPE shopwatch_outbox_pending gauge" in response.text
