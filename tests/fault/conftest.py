"""Fault tests: the five services as processes on their own topic prefix and databases,
against the real servers of deploy/local, which the tests stop and start.

Run them with the stack lock held exclusively when others share the servers:
`flock -x /tmp/shopwatch-stack.lock uv run pytest tests/fault -q -s` (see README.md).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from bench.common import settle_database
from deploy.local import servers
from tests.fault import outages
from tests.fault.processes import SERVICES, ServiceProcesses
from tests.integration.conftest import (  # noqa: F401 - fixtures shared with integration
    eventually_fixture,
    publish,
    read_topic,
    registry_topics,
)


@pytest.fixture(scope="module")
def services(stack_env: Any, registry_topics: str) -> Iterator[ServiceProcesses]:  # noqa: F811
    down = [name for name in servers.NAMES if not servers.is_running(name)]
    if down:
        # Docker's servers (testcontainers) or a stack started some other way: these
        # tests stop and start deploy/local's processes and have nothing to act on.
        pytest.skip(f"fault tests need the deploy/local stack; not running here: {down}")
    token = secrets.token_hex(3)
    running = ServiceProcesses(
        prefix=registry_topics,
        env=dict(os.environ),
        databases={service: f"fault_{token}_{service}" for service in SERVICES},
    )
    try:
        for service in SERVICES:
            running.start(service)
        for service in SERVICES:
            running.wait_ready(service)
        yield running
    finally:
        # Whatever failed, the shared servers come back first (before the topics of
        # this module are deleted and before anyone else gets the lock).
        restarted = outages.ensure_all_up()
        if restarted:
            print(f"fault tests: restarted {restarted} after a failure")
        running.stop_all()
        _drop(stack_env.mongo_url, running.databases)


def _drop(url: str, databases: dict[str, str]) -> None:
    from pymongo import MongoClient

    # FerretDB keeps running writes a stopped client left queued, and a drop racing them
    # has crashed it (see bench.common.settle_database).
    for name in databases.values():
        settle_database(url, name, "processed_events", quiet_s=1.0, timeout_s=20)
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=3000)
    try:
        for name in databases.values():
            client.drop_database(name)
    finally:
        client.close()
