"""Health and metrics endpoints, the same on every service.

- `/health/live`: the process runs and its event loop answers. Nothing else: a liveness
  probe that checks dependencies would restart every service when MongoDB blinks.
- `/health/ready`: every readiness check passes (Kafka, MongoDB, and what the service
  registered); otherwise 503 with the failing checks named, so the operator reading it
  (or the alert) knows where to look.
- `/metrics`: Prometheus text exposition of the process's default registry, which holds
  the runtime's metrics, FastStream's and any the service defines.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pymongo import AsyncMongoClient

from shopwatch.runtime.health import Health, Probe


def ops_router(health: Health, *, registry: CollectorRegistry = REGISTRY) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "live"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        results = await health.check()
        failing = [r.name for r in results if not r.ok]
        body: dict[str, Any] = {
            "status": "not ready" if failing else "ready",
            "failing": failing,
            "checks": {r.name: r.detail for r in results},
        }
        return JSONResponse(body, status_code=503 if failing else 200)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def create_ops_app(health: Health, *, title: str = "shopwatch", **fastapi_options: Any) -> FastAPI:
    """A FastAPI app with the ops endpoints; a service adds its own routers to it."""
    app = FastAPI(title=title, **fastapi_options)
    app.include_router(ops_router(health))
    return app


def kafka_probe(broker: KafkaBroker, timeout_s: float) -> Probe:
    async def probe() -> None:
        # `ping` asks the cluster for its metadata through the broker's admin client;
        # it answers False (rather than raising) when the broker is not connected.
        if not await broker.ping(timeout=timeout_s):
            raise ConnectionError("Kafka did not answer")

    return probe


def mongo_probe(client: AsyncMongoClient[Any]) -> Probe:
    async def probe() -> None:
        await client.admin.command("ping")

    return probe
