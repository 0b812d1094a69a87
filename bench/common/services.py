"""The Shopwatch services as separate processes for a benchmark: each on a free port,
its own database and the benchmark's topic prefix, so nothing else on the stack
(tests, `make up`) is touched, and everything is stopped and dropped afterwards."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    free_port,
    peak_rss_bytes,
    settle_database,
    start_service,
    stop_service,
    wait_ready,
)

SERVICES = ("intake", "evidence", "routing", "matching", "notify")
# The collection each service writes most, watched to know its database has gone quiet.
BUSIEST_COLLECTION = {
    "intake": "reports",
    "evidence": "reports",
    "routing": "cases",
    "matching": "match_results",
    "notify": "sent_emails",
}


@dataclass
class ServiceSet:
    env: dict[str, str]
    token: str
    logs: Path
    names: Sequence[str] = SERVICES
    # Per service, on top of the common env (e.g. intake's rate limit for a load test).
    extra: dict[str, dict[str, str]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ports = {name: free_port() for name in self.names}

    def database(self, name: str) -> str:
        return f"bench_{self.token}_{name}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def log(self, name: str) -> Path:
        return self.logs / f"bench-{self.token}-{name}.log"

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in self.names:
            env = {
                **self.env,
                "SHOPWATCH_SERVICE_PORT": str(self.ports[name]),
                "SHOPWATCH_MONGO_DATABASE": self.database(name),
                "SHOPWATCH_LOG_LEVEL": "WARNING",
                **self.extra.get(name, {}),
            }
            if "intake" in self.ports:
                env.setdefault("SHOPWATCH_INTAKE_URL", self.url("intake"))
            self.processes[name] = start_service(f"shopwatch.{name}", env, self.log(name))

    def wait_ready(self, timeout_s: float = 120) -> None:
        for name, process in self.processes.items():
            wait_ready(self.url(name), process, self.log(name), timeout_s)

    def peak_rss(self) -> dict[str, int | None]:
        """Each service process's peak RSS so far (VmHWM; the process itself, not children)."""
        return {name: peak_rss_bytes(p.pid) for name, p in self.processes.items()}

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            stop_service(process)  # waits, then kills what did not stop

    def drop_databases(self, mongo_url: str) -> None:
        """Waits for each database to go quiet, then drops it (see `settle_database`)."""
        from pymongo import MongoClient

        for name in self.names:
            collection = BUSIEST_COLLECTION.get(name, "outbox")
            settle_database(mongo_url, self.database(name), collection, quiet_s=1.0)
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
        try:
            for name in self.names:
                client.drop_database(self.database(name))
        finally:
            client.close()
