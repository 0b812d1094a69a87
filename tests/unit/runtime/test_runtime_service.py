"""Service wiring without servers: validation at wiring time, clean failure at start."""

import socket
from typing import Any

import pytest
from pydantic import SecretStr

from shopwatch.runtime.service_main import Service
from shopwatch.runtime.settings import RuntimeSettings
from shopwatch.schemas.topics import REPORTS_SUBMITTED


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def settings(**overrides: Any) -> RuntimeSettings:
    values: dict[str, Any] = {
        "service_name": "routing",
        "topic_prefix": "t-unit",
        "kafka_bootstrap": f"127.0.0.1:{closed_port()}",
        "mongo_url": SecretStr(f"mongodb://127.0.0.1:{closed_port()}"),
        **overrides,
    }
    return RuntimeSettings(**values)


async def handle(event: Any, deps: Any) -> None:
    return None


async def test_consume_prefixes_topic_and_group_and_uses_the_registry() -> None:
    service = Service(settings())
    consumer = service.consume(REPORTS_SUBMITTED, handle, None)
    assert consumer.topic == "t-unit.reports.submitted.v1"
    assert consumer.group == "t-unit.routing.reports.submitted.v1"
    assert service.consumers == [consumer]
    await service.mongo.close()


async def test_consuming_a_topic_without_dlq_is_refused_at_wiring_time() -> None:
    service = Service(settings())
    with pytest.raises(ValueError, match="no dead-letter topic"):
        service.consume(REPORTS_SUBMITTED + ".dlq", handle, None)
    await service.mongo.close()


async def test_start_failure_stops_what_started_and_fails_startup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service(settings())
    stopped: list[bool] = []
    real_stop = service.stop

    async def recording_stop() -> None:
        stopped.append(True)
        await real_stop()

    monkeypatch.setattr(service, "stop", recording_stop)
    with pytest.raises(Exception, match="bootstrap"):
        async with service.app.router.lifespan_context(service.app):
            raise AssertionError("must not start with Kafka unreachable")
    assert stopped == [True]
