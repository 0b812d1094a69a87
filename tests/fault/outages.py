"""Taking one server of the local stack away, and always bringing it back.

Other engineers share these servers, so every outage restores in a `finally`, and the
fault fixture checks all four are up again at the end, whatever happened in between.
Everything here blocks (it waits for health checks): call it with `asyncio.to_thread`
so the traffic keeps flowing meanwhile.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from deploy.local import servers


@contextlib.contextmanager
def server_stopped(name: str) -> Iterator[None]:
    """Stop `name` for the body of the `with`; start it again however the body ends."""
    servers.stop(name)
    try:
        yield
    finally:
        servers.start(name)


def stop_for(name: str, seconds: float) -> None:
    with server_stopped(name):
        time.sleep(seconds)


def restart(name: str) -> None:
    servers.restart(name)


def ensure_all_up() -> list[str]:
    """Start any server that is not running (after a failure mid-outage); names started."""
    started = []
    for name in servers.NAMES:
        if not servers.is_running(name):
            servers.start(name)
            started.append(name)
    return started
