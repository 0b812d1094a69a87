"""docker-compose.yml keeps the shape of the local stack: same services, ports, variables."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.local.config import (
    KAFKA_PORT,
    KAFKA_SASL_PORT,
    MONGO_PORT,
    S3_PORT,
    SMTP_PORT,
    Secrets,
    stack_env,
)

ROOT = Path(__file__).resolve().parents[2]
# Names the supervisor adds for each service on top of the stack's variables.
PER_SERVICE = {"SHOPWATCH_SERVICE_PORT", "SHOPWATCH_SERVICE_NAME"}
# Containers must listen on all interfaces; locally services keep the 127.0.0.1 default.
COMPOSE_ONLY = {"SHOPWATCH_SERVICE_HOST"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def local_services() -> list[dict[str, Any]]:
    with (ROOT / "deploy" / "local" / "services.toml").open("rb") as handle:
        services: list[dict[str, Any]] = tomllib.load(handle)["service"]
    return services


def local_env_names() -> set[str]:
    return set(stack_env(Secrets("x", "y", "z"))) | PER_SERVICE


def published(service: dict[str, Any]) -> set[tuple[int, int]]:
    pairs = set()
    for entry in service.get("ports", []):
        host, _, container = str(entry).rpartition(":")
        pairs.add((int(host), int(container)))
    return pairs


def test_compose_is_a_mapping_of_services(compose: dict[str, Any]) -> None:
    assert isinstance(compose["services"], dict)
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name


@pytest.mark.parametrize("service", local_services(), ids=lambda s: s["name"])
def test_every_local_service_is_in_compose_with_same_port_and_env(
    compose: dict[str, Any], service: dict[str, Any]
) -> None:
    name, port = service["name"], service["port"]
    assert name in compose["services"], f"{name} missing from docker-compose.yml"
    entry = compose["services"][name]
    assert entry["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (ROOT / entry["build"]["dockerfile"]).exists()
    assert entry["command"] == ["python", "-m", service["module"]]
    assert (port, port) in published(entry)
    env = entry["environment"]
    assert str(env["SHOPWATCH_SERVICE_PORT"]) == str(port)
    assert env["SHOPWATCH_SERVICE_NAME"] == name
    names = set(env)
    assert local_env_names() - names == set(), "variables the local stack sets but compose not"
    assert names - local_env_names() <= COMPOSE_ONLY, "variables only compose sets"


def test_servers_publish_the_local_stack_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {(KAFKA_PORT, KAFKA_PORT), (KAFKA_SASL_PORT, KAFKA_SASL_PORT)} <= published(
        services["kafka"]
    )
    assert (MONGO_PORT, MONGO_PORT) in published(services["mongo"])
    assert (S3_PORT, S3_PORT) in published(services["s3"])
    assert (SMTP_PORT, SMTP_PORT) in published(services["mailpit"])
    assert "prometheus" in services


def test_kafka_matches_local_security(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert str(env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"]) == "false"
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]) == "false"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert "SASL_PLAINTEXT://0.0.0.0:9094" in env["KAFKA_LISTENERS"]


def test_mongo_is_a_replica_set(compose: dict[str, Any]) -> None:
    assert "--replSet" in compose["services"]["mongo"]["command"]
