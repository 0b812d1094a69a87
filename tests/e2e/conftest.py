"""The whole system as separate processes: every service started with `python -m`, on a
fresh topic prefix and fresh databases, against the real servers of deploy/local."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401 - fixtures shared with integration
    eventually_fixture,
    publish,
    read_topic,
    registry_topics,
)

SERVICES = ("intake", "evidence", "routing", "matching", "notify")
LOGS = Path(__file__).resolve().parents[2] / ".cache" / "local" / "logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class System:
    prefix: str
    env: dict[str, str]
    ports: dict[str, int]
    databases: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def service_env(self, service: str) -> dict[str, str]:
        return {
            **self.env,
            "SHOPWATCH_SERVICE_PORT": str(self.ports[service]),
            "SHOPWATCH_MONGO_DATABASE": self.databases[service],
            "SHOPWATCH_INTAKE_URL": self.url("intake"),
            "SHOPWATCH_LOG_LEVEL": "INFO",
        }

    def start(self, service: str) -> None:
        log = (LOGS / f"e2e-{service}.log").open("ab")
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", f"shopwatch.{service}"],
            env=self.service_env(service),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, service: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            process = self.processes[service]
            if process.poll() is not None:
                raise AssertionError(f"{service} exited with {process.returncode}; see {LOGS}")
            try:
                with urllib.request.urlopen(f"{self.url(service)}/health/ready", timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(
            f"{service} not ready after {timeout_s}s; see {LOGS}/e2e-{service}.log"
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def system(stack_env: Any, registry_topics: str) -> Iterator[System]:  # noqa: F811
    token = secrets.token_hex(3)
    LOGS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SHOPWATCH_TOPIC_PREFIX": registry_topics,
        "SHOPWATCH_OUTBOX_POLL_INTERVAL_S": "0.5",
    }
    running = System(
        prefix=registry_topics,
        env=env,
        ports={service: free_port() for service in SERVICES},
        databases={service: f"e2e_{token}_{service}" for service in SERVICES},
    )
    try:
        for service in SERVICES:
            running.start(service)
        for service in SERVICES:
            running.wait_ready(service)
        yield running
    finally:
        running.stop()
        _drop(stack_env.mongo_url, list(running.databases.values()))


def _drop(url: str, names: list[str]) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=3000)
    try:
        for name in names:
            client.drop_database(name)
    finally:
        client.close()
