"""What every server of the local stack does: install once, start detached, wait, stop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from deploy.local import process
from deploy.local.config import HOST


class Component(ABC):
    name: str
    ports: tuple[int, ...]
    health_timeout: float = 60.0

    @property
    @abstractmethod
    def marker(self) -> str:
        """A string in the command line of the running process (guards against pid reuse)."""

    def needs(self) -> None:
        """Raise StackError (one line: what to install) if a prerequisite is missing."""
        return None

    def preflight(self) -> None:
        """Before anything starts: prerequisites present, ports free (unless already ours)."""
        if self.pid() is not None:
            return
        self.needs()
        process.ensure_ports_free(self.name, HOST, self.ports)

    def install(self) -> None:
        """Install what is missing into the cache; a no-op when it is there already."""
        return None

    def prepare(self) -> None:
        """Write config, format storage...: runs before each start."""
        return None

    @abstractmethod
    def argv(self) -> list[str]: ...

    def env(self) -> dict[str, str] | None:
        return None

    def cwd(self) -> Path | None:
        return None

    @abstractmethod
    def healthy(self) -> bool: ...

    def pid(self) -> int | None:
        return process.running_pid(self.name, self.marker)

    def up(self, *, install: bool = True) -> None:
        """Start (installing what is missing unless `install` is False) and wait until
        healthy; a no-op for a server that runs already."""
        pid = self.pid()
        if pid is not None:
            if self.healthy():
                process.say(f"{self.name}: already running (pid {pid})")
                return
            process.wait_until(self.name, self.healthy, timeout=self.health_timeout, pid=pid)
            return
        if install:
            # Skipped when restarting a server a fault test stopped: its binaries are
            # there, and a start must never turn into a build.
            self.install()
        self.prepare()
        process.ensure_ports_free(self.name, HOST, self.ports)
        pid = process.spawn(self.name, self.argv(), env=self.env(), cwd=self.cwd())
        process.say(f"{self.name}: started (pid {pid}, log {process.log_file(self.name)})")
        process.wait_until(self.name, self.healthy, timeout=self.health_timeout, pid=pid)

    def down(self) -> None:
        if process.stop(self.name, self.marker):
            process.say(f"{self.name}: stopped")
        else:
            process.say(f"{self.name}: not running")

    def status(self) -> tuple[bool, str]:
        pid = self.pid()
        ports = ", ".join(f"{HOST}:{port}" for port in self.ports)
        if pid is None:
            return False, f"{self.name:9} stopped            {ports}"
        state = "healthy" if self.healthy() else "UNHEALTHY"
        return state == "healthy", f"{self.name:9} {state:9} pid {pid:<7} {ports}"
