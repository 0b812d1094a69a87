"""Endpoints of the real servers for integration and end-to-end tests.

Where they come from, first match wins:
1. `SHOPWATCH_*` environment variables (the Makefile sources `.cache/local/stack.env`);
2. `.cache/local/stack.env` itself, written by `python -m deploy.local up`;
3. a Docker engine, if one answers: testcontainers starts Kafka, MongoDB, SeaweedFS (S3)
   and Mailpit, and the same variables are set for the session;
4. otherwise the session stops with one line naming the command that starts the stack.

This only happens when a collected test is marked `integration` or `e2e`: unit and contract
tests run with no servers at all.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The repository root holds `deploy` (the local stack), which some tests import.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
STACK_ENV_FILE = REPO_ROOT / ".cache" / "local" / "stack.env"
START_HINT = "no servers for integration tests: run `make stack-up` (or start Docker) first"
SERVER_MARKERS = ("integration", "e2e")
REQUIRED = (
    "SHOPWATCH_KAFKA_BOOTSTRAP",
    "SHOPWATCH_MONGO_URL",
    "SHOPWATCH_S3_ENDPOINT",
    "SHOPWATCH_S3_ACCESS_KEY",
    "SHOPWATCH_S3_SECRET_KEY",
    "SHOPWATCH_SMTP_HOST",
    "SHOPWATCH_SMTP_PORT",
)


@dataclass(frozen=True)
class StackEnv:
    """Endpoints of the servers the tests run against."""

    kafka_bootstrap: str
    mongo_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_secure: bool
    smtp_host: str
    smtp_port: int
    # SASL/SCRAM listener and its super user (the local stack has them; testcontainers not).
    kafka_sasl_bootstrap: str | None = None
    kafka_admin_user: str | None = None
    kafka_admin_password: str | None = None
    # Where the SMTP server keeps what it accepted: a folder of .eml files (local stack)...
    smtp_store: Path | None = None
    # ... or the HTTP API of Mailpit (testcontainers).
    mailpit_api: str | None = None
    kafka_libs: Path | None = None
    source: str = "environment"

    @classmethod
    def from_environ(cls, environ: dict[str, str], source: str) -> StackEnv:
        def opt(key: str) -> str | None:
            value = environ.get(key, "").strip()
            return value or None

        store, libs = opt("SHOPWATCH_SMTP_STORE"), opt("SHOPWATCH_KAFKA_LIBS")
        return cls(
            kafka_bootstrap=environ["SHOPWATCH_KAFKA_BOOTSTRAP"],
            mongo_url=environ["SHOPWATCH_MONGO_URL"],
            s3_endpoint=environ["SHOPWATCH_S3_ENDPOINT"],
            s3_access_key=environ["SHOPWATCH_S3_ACCESS_KEY"],
            s3_secret_key=environ["SHOPWATCH_S3_SECRET_KEY"],
            s3_secure=environ.get("SHOPWATCH_S3_SECURE", "false").lower() in ("1", "true", "yes"),
            smtp_host=environ["SHOPWATCH_SMTP_HOST"],
            smtp_port=int(environ["SHOPWATCH_SMTP_PORT"]),
            kafka_sasl_bootstrap=opt("SHOPWATCH_KAFKA_SASL_BOOTSTRAP"),
            kafka_admin_user=opt("SHOPWATCH_KAFKA_ADMIN_USER"),
            kafka_admin_password=opt("SHOPWATCH_KAFKA_ADMIN_PASSWORD"),
            smtp_store=Path(store) if store else None,
            mailpit_api=opt("SHOPWATCH_MAILPIT_API"),
            kafka_libs=Path(libs) if libs else None,
            source=source,
        )


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# --- Docker fallback ---------------------------------------------------------------------


class _Containers:
    """Servers started with testcontainers when there is no local stack but Docker answers."""

    def __init__(self) -> None:
        self.started: list[Any] = []

    @staticmethod
    def docker_answers() -> bool:
        try:
            import docker  # type: ignore[import-untyped]

            client = docker.from_env(timeout=3)
            return bool(client.ping())
        except Exception:
            return False

    def start(self) -> dict[str, str]:
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.mongodb import MongoDbContainer
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        env: dict[str, str] = {}
        kafka = KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft()
        kafka.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        self.started.append(kafka.start())
        env["SHOPWATCH_KAFKA_BOOTSTRAP"] = kafka.get_bootstrap_server()

        mongo = MongoDbContainer("mongo:7.0")
        self.started.append(mongo.start())
        env["SHOPWATCH_MONGO_URL"] = mongo.get_connection_url()

        access, secret = "shopwatch" + secrets.token_hex(4), secrets.token_urlsafe(24)
        s3 = (
            DockerContainer("chrislusf/seaweedfs:latest")
            .with_command("server -s3 -s3.port=8333 -dir=/data")
            .with_env("AWS_ACCESS_KEY_ID", access)
            .with_env("AWS_SECRET_ACCESS_KEY", secret)
            .with_exposed_ports(8333)
        )
        self.started.append(s3.start())
        wait_for_logs(s3, "Start Seaweed S3 API Server", timeout=90)
        env["SHOPWATCH_S3_ENDPOINT"] = f"{s3.get_container_host_ip()}:{s3.get_exposed_port(8333)}"
        env["SHOPWATCH_S3_ACCESS_KEY"], env["SHOPWATCH_S3_SECRET_KEY"] = access, secret
        env["SHOPWATCH_S3_SECURE"] = "false"

        mailpit = DockerContainer("axllent/mailpit:latest").with_exposed_ports(1025, 8025)
        self.started.append(mailpit.start())
        wait_for_logs(mailpit, "accessible via", timeout=60)
        host = mailpit.get_container_host_ip()
        env["SHOPWATCH_SMTP_HOST"] = host
        env["SHOPWATCH_SMTP_PORT"] = str(mailpit.get_exposed_port(1025))
        env["SHOPWATCH_MAILPIT_API"] = f"http://{host}:{mailpit.get_exposed_port(8025)}"
        return env

    def stop(self) -> None:
        for container in reversed(self.started):
            try:
                container.stop()
            except Exception as error:  # a leaked container must not hide test results
                print(f"could not stop {container}: {error}")
        self.started.clear()


_containers = _Containers()
_stack: StackEnv | None = None


def _unreachable(stack: StackEnv) -> str | None:
    """The first server that does not accept a TCP connection, as `name host:port`."""
    mongo_host = re.sub(r"^mongodb://([^@/]*@)?", "", stack.mongo_url).split("/")[0].split(",")[0]
    endpoints = {
        "Kafka": stack.kafka_bootstrap.split(",")[0],
        "MongoDB": mongo_host if ":" in mongo_host else f"{mongo_host}:27017",
        "S3": stack.s3_endpoint,
        "SMTP": f"{stack.smtp_host}:{stack.smtp_port}",
    }
    for name, address in endpoints.items():
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except (OSError, ValueError):
            return f"{name} {address}"
    return None


def _resolve_stack() -> StackEnv:
    environ = dict(os.environ)
    found: StackEnv | None = None
    if all(environ.get(key) for key in REQUIRED):
        found = StackEnv.from_environ(environ, "environment")
    elif STACK_ENV_FILE.exists():
        merged = {**_read_env_file(STACK_ENV_FILE), **{k: v for k, v in environ.items() if v}}
        if all(merged.get(key) for key in REQUIRED):
            found = StackEnv.from_environ(merged, str(STACK_ENV_FILE))
    if found is not None:
        down = _unreachable(found)
        if down is not None:
            raise LookupError(f"{down} (from {found.source}) is not reachable: run `make stack-up`")
        return found
    if _Containers.docker_answers():
        started = _containers.start()
        os.environ.update(started)
        return StackEnv.from_environ({**environ, **started}, "testcontainers")
    raise LookupError(START_HINT)


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    global _stack
    if not any(item.get_closest_marker(m) for item in items for m in SERVER_MARKERS):
        return
    try:
        _stack = _resolve_stack()
    except LookupError as error:
        pytest.exit(str(error), returncode=pytest.ExitCode.USAGE_ERROR)
    # Services and helpers started by tests read the same variables.
    for key, value in _stack_environ(_stack).items():
        os.environ.setdefault(key, value)


def _stack_environ(stack: StackEnv) -> dict[str, str]:
    pairs = {
        "SHOPWATCH_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "SHOPWATCH_KAFKA_SASL_BOOTSTRAP": stack.kafka_sasl_bootstrap,
        "SHOPWATCH_KAFKA_ADMIN_USER": stack.kafka_admin_user,
        "SHOPWATCH_KAFKA_ADMIN_PASSWORD": stack.kafka_admin_password,
        "SHOPWATCH_MONGO_URL": stack.mongo_url,
        "SHOPWATCH_S3_ENDPOINT": stack.s3_endpoint,
        "SHOPWATCH_S3_ACCESS_KEY": stack.s3_access_key,
        "SHOPWATCH_S3_SECRET_KEY": stack.s3_secret_key,
        "SHOPWATCH_S3_SECURE": "true" if stack.s3_secure else "false",
        "SHOPWATCH_SMTP_HOST": stack.smtp_host,
        "SHOPWATCH_SMTP_PORT": str(stack.smtp_port),
        "SHOPWATCH_SMTP_STORE": str(stack.smtp_store) if stack.smtp_store else None,
        "SHOPWATCH_MAILPIT_API": stack.mailpit_api,
        "SHOPWATCH_KAFKA_LIBS": str(stack.kafka_libs) if stack.kafka_libs else None,
    }
    return {key: value for key, value in pairs.items() if value}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _containers.stop()


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack_env() -> StackEnv:
    """Endpoints of the real servers (only for tests marked `integration` or `e2e`)."""
    if _stack is None:
        pytest.fail(
            "stack_env is only for tests marked `integration` or `e2e`: " + START_HINT,
            pytrace=False,
        )
    return _stack


@pytest.fixture(scope="session")
def topic_prefix() -> Iterator[str]:
    """A prefix unique to this test session (`t1a2b3c4d.`), so runs never see each other's
    topics, consumer groups or ACLs. Its topics are deleted when the session ends: left
    behind, a few runs' worth (thousands of partitions) made the local broker take a
    minute to restart and once ran it out of heap."""
    prefix = f"t{secrets.token_hex(4)}."
    yield prefix
    if _stack is not None:
        _delete_topics(_stack.kafka_bootstrap, prefix)


def _delete_topics(bootstrap: str, prefix: str) -> None:
    import asyncio

    from tests.kafka_topics import delete_topics_under

    try:
        asyncio.run(delete_topics_under(bootstrap, prefix))
    except Exception as error:  # a broker that is down must not fail the run at its end
        print(f"could not delete test topics {prefix}*: {error!r}")


@pytest.fixture(scope="module")
def mongo_db_name(request: pytest.FixtureRequest) -> Iterator[Callable[[str], str]]:
    """A factory of database names unique to this test module (and run): `make("smoke")`.

    The same suffix gives the same name within the module. The databases are dropped when
    the module's tests are done (if the stack is reachable).
    """
    module = re.sub(r"[^a-z0-9]+", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    token = secrets.token_hex(3)
    names: dict[str, str] = {}

    def make(suffix: str = "db") -> str:
        clean = re.sub(r"[^a-z0-9_]+", "_", suffix.lower())
        name = f"t_{module[:24]}_{token}_{clean}"[:63]
        names[suffix] = name
        return name

    yield make
    if names and _stack is not None:
        _drop_databases(_stack.mongo_url, list(names.values()))


def _drop_databases(url: str, names: list[str]) -> None:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    try:
        client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=3000)
        try:
            for name in names:
                client.drop_database(name)
        finally:
            client.close()
    except PyMongoError as error:
        print(f"could not drop test databases {names}: {error}")
