"""Health and metrics endpoints of a service, and its wiring, on the real stack."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from shopwatch.runtime.broker import publish_envelope
from shopwatch.runtime.codec import envelope_parser
from shopwatch.runtime.outbox import PENDING_FILTER, OutboxMessage, outbox_fields
from shopwatch.runtime.service_main import Service
from shopwatch.runtime.settings import RuntimeSettings
from shopwatch.schemas.envelope import Envelope

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def closed_port() -> int:
    # Bind, read the port, close: nothing listens there afterwards.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@asynccontextmanager
async def running(service: Service[Any]) -> AsyncIterator[httpx.AsyncClient]:
    # The app's own lifespan, as uvicorn would run it, then requests over ASGI.
    async with service.app.router.lifespan_context(service.app):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            yield client


async def test_ready_with_the_stack_up(settings: RuntimeSettings) -> None:
    service = Service(settings)
    async with running(service) as client:
        live = await client.get("/health/live")
        assert live.status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["status"] == "ready"
        assert body["checks"] == {"kafka": "ok", "mongo": "ok"}


async def test_not_ready_names_mongo_when_it_is_unreachable(settings: RuntimeSettings) -> None:
    broken = settings.model_copy(
        update={
            "mongo_url": SecretStr(f"mongodb://127.0.0.1:{closed_port()}/?connectTimeoutMS=300"),
            "health_check_timeout_s": 1.0,
        }
    )
    service = Service(broken)
    async with running(service) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["failing"] == ["mongo"]
        assert body["checks"]["kafka"] == "ok"
        assert body["checks"]["mongo"] != "ok"
        # Liveness does not depend on MongoDB.
        assert (await client.get("/health/live")).status_code == 200


async def test_not_ready_names_kafka_when_it_is_unreachable(settings: RuntimeSettings) -> None:
    broken = settings.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{closed_port()}", "health_check_timeout_s": 0.5}
    )
    service = Service(broken)
    # Not started (the broker cannot connect): readiness must say so, naming Kafka.
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        ready = await client.get("/health/ready")
    await service.mongo.close()
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["kafka"]


class Ping(BaseModel):
    n: int


async def test_service_wiring_end_to_end(
    settings: RuntimeSettings, database: AsyncDatabase[Any], topics: Any, eventually: Any
) -> None:
    """A consumer whose handler writes state + outbox, relayed to a second topic; the
    metrics endpoint shows the runtime's and FastStream's metrics."""
    inbound, outbound = settings.topic("pings.v1"), settings.topic("pongs.v1")
    await topics(inbound, f"{inbound}.dlq", outbound, f"{outbound}.dlq")
    service = Service(settings.model_copy(update={"mongo_database": database.name}))
    pongs = service.db[f"pongs_{uuid.uuid4().hex[:6]}"]
    received: list[int] = []

    async def on_ping(event: Envelope[Ping], svc: Service[RuntimeSettings]) -> None:
        pong = Envelope[Ping](
            event_type="Pong",
            schema_version=1,
            producer="runtime-it",
            correlation_id=event.correlation_id,
            payload=Ping(n=event.payload.n + 1),
        )
        doc_id = str(event.event_id)
        await pongs.insert_one(
            {"_id": doc_id, **outbox_fields([OutboxMessage(pong, outbound, "k")])}
        )
        svc.notify_outbox(pongs, doc_id)

    async def on_pong(event: Envelope[Ping], sink: list[int]) -> None:
        sink.append(event.payload.n)

    service.consume("pings.v1", on_ping, service, parse=envelope_parser(Ping))
    service.consume("pongs.v1", on_pong, received, parse=envelope_parser(Ping))
    service.outbox(pongs)
    async with running(service) as client:
        ping = Envelope[Ping](
            event_type="Ping",
            schema_version=1,
            producer="runtime-it",
            correlation_id="c",
            payload=Ping(n=1),
        )
        await publish_envelope(service.broker, ping, inbound, key="k")

        async def ponged() -> bool:
            return received == [2]

        await eventually(ponged, what="ping -> outbox -> pong")
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"kafka", "mongo", "outbox-relay"}
        metrics = (await client.get("/metrics")).text
        group = f"{settings.topic_prefix}.runtime-it.pongs.v1"
        processed = f'shopwatch_events_processed_total{{group="{group}",topic="{outbound}"}} 1.0'
        assert processed in metrics
        assert "shopwatch_outbox_published_total" in metrics
        assert "shopwatch_received_messages_total" in metrics  # FastStream's, same prefix
        assert await pongs.count_documents(PENDING_FILTER) == 0
    assert not service.relay or not service.relay.running
