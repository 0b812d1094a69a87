"""The five services as processes that a fault test can kill -9 and start again.

Each service keeps its port, database and topic prefix across restarts, as a supervisor
would restart it; output goes to `.cache/local/logs/fault-<service>.log`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SERVICES = ("intake", "evidence", "routing", "matching", "notify")
LOGS = Path(__file__).resolve().parents[2] / ".cache" / "local" / "logs"

# Shorter than production so a test sees the whole recovery within its bound; the
# mechanisms are the same (relay sweep, notify's lease and sweeper, consumer backoff).
FAST_RECOVERY = {
    "SHOPWATCH_OUTBOX_POLL_INTERVAL_S": "0.5",
    "SHOPWATCH_SMTP_TIMEOUT_S": "5",
    "SHOPWATCH_SEND_TIMEOUT_S": "15",
    "SHOPWATCH_SWEEP_INTERVAL_S": "2",
    "SHOPWATCH_SWEEP_RETRY_INITIAL_S": "2",
    "SHOPWATCH_SWEEP_RETRY_MAX_S": "10",
    "SHOPWATCH_DIGEST_ENABLED": "false",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcesses:
    prefix: str
    env: dict[str, str]
    databases: dict[str, str]
    ports: dict[str, int] = field(default_factory=lambda: {s: free_port() for s in SERVICES})
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def service_env(self, service: str) -> dict[str, str]:
        return {
            **self.env,
            **FAST_RECOVERY,
            "SHOPWATCH_TOPIC_PREFIX": self.prefix,
            "SHOPWATCH_SERVICE_PORT": str(self.ports[service]),
            "SHOPWATCH_MONGO_DATABASE": self.databases[service],
            "SHOPWATCH_INTAKE_URL": self.url("intake"),
            "SHOPWATCH_LOG_LEVEL": "INFO",
        }

    def start(self, service: str) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"fault-{service}.log").open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting {service}\n".encode())
            log.flush()
            self.processes[service] = subprocess.Popen(
                [sys.executable, "-m", f"shopwatch.{service}"],
                env=self.service_env(service),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill9(self, service: str) -> None:
        """SIGKILL: no shutdown hooks, no flush, no commit; what a crash looks like."""
        process = self.processes[service]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def ready(self, service: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url(service)}/health/ready", timeout=2) as r:  # noqa: S310
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_ready(self, service: str, timeout_s: float = 120) -> float:
        """Seconds until ready; fails if the process exits or the timeout passes."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            process = self.processes[service]
            if process.poll() is not None:
                raise AssertionError(
                    f"{service} exited with {process.returncode}; see {LOGS}/fault-{service}.log"
                )
            if self.ready(service):
                return time.monotonic() - started
            time.sleep(0.3)
        raise AssertionError(
            f"{service} not ready after {timeout_s}s; see {LOGS}/fault-{service}.log"
        )

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
