"""Helpers shared by the hostile-input tests: the services' common settings, dead letters
read with their headers as text, and the check that a log holds none of the stack's
secrets."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr

from shopwatch.runtime.service_main import Service

T = TypeVar("T")

Record = Any


def common_settings(stack_env: Any, prefix: str) -> dict[str, Any]:
    """What every in-process service of these tests shares: the stack, the module's topic
    prefix, and short retries so a refused message reaches the DLQ in well under a second."""
    return {
        "kafka_bootstrap": stack_env.kafka_bootstrap,
        "mongo_url": SecretStr(stack_env.mongo_url),
        "topic_prefix": prefix,
        "outbox_poll_interval_s": 0.2,
        "consumer_backoff_initial_s": 0.05,
        "consumer_backoff_max_s": 0.2,
    }


def s3_settings(stack_env: Any, bucket: str) -> dict[str, Any]:
    return {
        "s3_endpoint": stack_env.s3_endpoint,
        "s3_access_key": stack_env.s3_access_key,
        "s3_secret_key": SecretStr(stack_env.s3_secret_key),
        "s3_secure": stack_env.s3_secure,
        "evidence_bucket": bucket,
    }


@dataclass(frozen=True)
class Letter:
    """A dead letter: the record's key and value, and its headers decoded as text."""

    key: bytes | None
    value: bytes
    headers: dict[str, str]


def letters(records: Iterable[Record]) -> list[Letter]:
    return [
        Letter(r.key, r.value, {k: v.decode("utf-8", "replace") for k, v in r.headers})
        for r in records
    ]


async def read_letters(
    read_topic: Callable[..., Awaitable[list[Record]]],
    dlq: str,
    want: Callable[[list[Letter]], bool],
    timeout_s: float = 30.0,
) -> list[Letter]:
    """Every letter on `dlq` once `want` holds (or the timeout passed)."""
    records = await read_topic(
        dlq,
        until=lambda rs: want(letters(rs)),
        idle_s=0.5,
        timeout_s=timeout_s,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    return letters(records)


def stack_secrets(stack_env: Any) -> list[str]:
    values = [stack_env.s3_secret_key, stack_env.kafka_admin_password or ""]
    return [v for v in values if len(v) >= 6]


def assert_no_secrets(text: str, secret_values: Iterable[str]) -> None:
    for value in secret_values:
        assert value not in text, "a secret reached the log"


# --- services as processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    """A service started with `python -m shopwatch.<name>`, its JSON log kept in a file."""

    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines logged so far (anything else on the output is ignored)."""
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            with suppress(ValueError):
                line = json.loads(raw)
                if isinstance(line, dict):
                    lines.append(line)
        return lines

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_process(name: str, env: dict[str, str], log_dir: Path) -> ServiceProcess:
    port = free_port()
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"shopwatch.{name}"],
            env={**os.environ, **env, "SHOPWATCH_SERVICE_PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(name, port, log_path, process)


def wait_ready(service: ServiceProcess, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"{service.name} exited; see {service.log_path}")
        with suppress(OSError):
            ready = f"{service.url}/health/ready"
            with urllib.request.urlopen(ready, timeout=2) as answer:  # noqa: S310 - loopback
                if answer.status == 200:
                    return
        time.sleep(0.3)
    raise AssertionError(f"{service.name} not ready after {timeout_s}s; see {service.log_path}")


# --- a service for schemathesis's ASGI transport -----------------------------------------


class ServiceOnce:
    """A service's ASGI app whose lifespan starts the service once, on the first lifespan
    schemathesis opens (in its own event-loop thread), and keeps it for the module: the
    plugin ends a lifespan per test, and a stopped service cannot start again. `stop`
    stops it on that loop. (As in tests/integration/intake/test_intake_fuzz_it.py.)"""

    def __init__(self, service: Service[Any]) -> None:
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

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        """Run a coroutine on the service's loop (its clients live there)."""
        assert self.loop is not None, "the service has not started"
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout_s)

    def stop(self) -> None:
        if self.loop is not None:
            self.run(self.service.stop())
