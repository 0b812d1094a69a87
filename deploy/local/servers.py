"""The four servers of the local stack by name, and stopping or starting ONE of them.

Fault tests (tests/fault) and operators use this to take a single server away and bring
it back without touching the others: `python -m deploy.local stop ferretdb`, then
`python -m deploy.local start ferretdb`. Starting again never installs or rebuilds
anything (a stopped server's binary is already there; `up` is the command that
installs), so a fault test cannot trigger a Go build or a Maven download.
"""

from __future__ import annotations

from deploy.local import process
from deploy.local.component import Component
from deploy.local.ferretdb import FerretDB
from deploy.local.kafka import Kafka
from deploy.local.s3 import VersityGW
from deploy.local.smtp import SmtpSink


def components() -> list[Component]:
    """In start order; stopped in reverse."""
    return [SmtpSink(), VersityGW(), FerretDB(), Kafka()]


NAMES = tuple(c.name for c in components())


def by_name(name: str) -> Component:
    for component in components():
        if component.name == name:
            return component
    raise process.StackError(f"no server named {name!r}; choose one of {', '.join(NAMES)}")


def stop(name: str) -> bool:
    """Stop one server (TERM, KILL after the grace period); True if it was running."""
    component = by_name(name)
    stopped = process.stop(component.name, component.marker)
    process.say(f"{component.name}: {'stopped' if stopped else 'not running'}")
    return stopped


def start(name: str) -> None:
    """Start one stopped server and wait until it is healthy (a no-op if it runs)."""
    by_name(name).up(install=False)


def restart(name: str) -> None:
    stop(name)
    start(name)


def is_running(name: str) -> bool:
    return by_name(name).pid() is not None
