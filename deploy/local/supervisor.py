"""Run the Shopwatch services of services.toml; restart any that crash (with backoff).

`python -m deploy.local services-up` starts this module as one background process
(`python -m deploy.local.supervisor`, pid in .cache/local/run/supervisor.pid) and waits
until every built service answers /health/live. `services-down` stops it; on TERM it
stops its children (TERM, then KILL) before it exits.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from deploy.local import process
from deploy.local.config import DEPLOY_DIR, HOST, REPO_ROOT, STACK_ENV, read_env_file

SERVICES_TOML = DEPLOY_DIR / "services.toml"
NAME = "supervisor"
MARKER = "deploy.local.supervisor"
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # a run this long resets the backoff
STOP_GRACE = 10.0


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def built(self) -> bool:
        """True once `python -m <module>` can run (its `__main__` module exists)."""
        try:
            return importlib.util.find_spec(f"{self.module}.__main__") is not None
        except (ImportError, ValueError):
            return False

    def live(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/live", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False


def load_services(path: Path = SERVICES_TOML) -> list[Service]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return [Service(str(s["name"]), str(s["module"]), int(s["port"])) for s in data["service"]]


def service_env(service: Service) -> dict[str, str]:
    env = dict(os.environ)
    if STACK_ENV.exists():
        env.update(read_env_file(STACK_ENV))
    env["SHOPWATCH_SERVICE_PORT"] = str(service.port)
    env["SHOPWATCH_SERVICE_NAME"] = service.name
    env["PYTHONUNBUFFERED"] = "1"
    return env


# --- the supervisor process ------------------------------------------------------------


@dataclass
class Child:
    service: Service
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 1.0
    restart_at: float = 0.0
    restarts: int = field(default=0)


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _start(child: Child) -> None:
    log = process.log_file(child.service.name)
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting\n".encode())
        out.flush()
        child.proc = subprocess.Popen(
            [sys.executable, "-m", child.service.module],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=service_env(child.service),
            cwd=REPO_ROOT,
        )
    child.started = time.monotonic()
    _log(f"{child.service.name}: started pid {child.proc.pid} on port {child.service.port}")


def _stop_children(children: list[Child]) -> None:
    running = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def supervise() -> None:
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children: list[Child] = []
    for service in load_services():
        if service.built():
            children.append(Child(service))
        else:
            _log(f"{service.name}: not built yet (no {service.module}.__main__), skipped")
    for child in children:
        _start(child)
    while not stopping:
        now = time.monotonic()
        for child in children:
            proc = child.proc
            if proc is not None and proc.poll() is not None:
                ran = now - child.started
                child.backoff = 1.0 if ran > STABLE_AFTER else min(child.backoff * 2, MAX_BACKOFF)
                child.restart_at = now + child.backoff
                child.restarts += 1
                child.proc = None
                _log(
                    f"{child.service.name}: exited with code {proc.returncode} after {ran:.0f}s; "
                    f"restart {child.restarts} in {child.backoff:.0f}s "
                    f"(log {process.log_file(child.service.name)})"
                )
            elif proc is None and now >= child.restart_at:
                _start(child)
        time.sleep(0.5)
    _log("stopping services")
    _stop_children(children)
    _log("stopped")


# --- commands: services-up / services-down / status --------------------------------------


def services_up() -> None:
    if not STACK_ENV.exists():
        raise process.StackError("the stack is not set up: run `make stack-up` first")
    services = load_services()
    built = [s for s in services if s.built()]
    for service in services:
        if service not in built:
            process.say(f"{service.name}: not built yet (no {service.module}.__main__), skipped")
    pid = process.running_pid(NAME, MARKER)
    if pid is None:
        process.ensure_ports_free("services", HOST, [s.port for s in built])
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO_ROOT) + (
            os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
        )
        env["PYTHONUNBUFFERED"] = "1"
        pid = process.spawn(NAME, [sys.executable, "-m", MARKER], env=env, cwd=REPO_ROOT)
        process.say(f"supervisor: started (pid {pid}, log {process.log_file(NAME)})")
    else:
        process.say(f"supervisor: already running (pid {pid})")
    for service in built:
        process.wait_until(service.name, service.live, timeout=90.0, pid=pid)
    for service in built:
        process.say(f"  {service.name:9} {service.url}  (docs {service.url}/docs)")


def services_down() -> None:
    if process.stop(NAME, MARKER, grace=STOP_GRACE + 5):
        process.say("supervisor: stopped with its services")
    else:
        process.say("supervisor: not running")


def services_status() -> list[str]:
    pid = process.running_pid(NAME, MARKER)
    lines = [f"supervisor {'running pid ' + str(pid) if pid else 'stopped'}"]
    for service in load_services():
        if not service.built():
            state = "not built yet"
        elif pid is None:
            state = "stopped"
        else:
            state = "live" if service.live() else "NOT LIVE"
        lines.append(f"  {service.name:9} {state:13} {service.url}")
    return lines


if __name__ == "__main__":
    supervise()
