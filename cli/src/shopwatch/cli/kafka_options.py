"""Kafka connection settings for the CLI, from the same SHOPWATCH_* variables as the services."""

from __future__ import annotations

import os
from typing import Any

from shopwatch.runtime.kafka_security import AdminConnection
from shopwatch.schemas.topics import with_prefix


def bootstrap() -> str:
    return os.environ.get("SHOPWATCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def sasl_bootstrap() -> str:
    return os.environ.get("SHOPWATCH_KAFKA_SASL_BOOTSTRAP", "127.0.0.1:9094")


def topic_prefix() -> str:
    return os.environ.get("SHOPWATCH_TOPIC_PREFIX", "")


def acl_prefix() -> str:
    """The prefix as it stands before `force.` in a physical name (with its separator)."""
    return prefixed("x")[:-1]


def prefixed(name: str) -> str:
    prefix = topic_prefix()
    return with_prefix(name, prefix) if prefix else name


def admin_connection() -> AdminConnection:
    """The operator's connection: the trusted listener, or SASL with the admin user if set."""
    user = os.environ.get("SHOPWATCH_KAFKA_ADMIN_USER")
    password = os.environ.get("SHOPWATCH_KAFKA_ADMIN_PASSWORD")
    if os.environ.get("SHOPWATCH_KAFKA_ADMIN_VIA_SASL") == "true" and user and password:
        return AdminConnection(
            sasl_bootstrap(),
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=user,
            sasl_plain_password=password,
        )
    return AdminConnection(bootstrap())


def force_client_options(user: str, password: str) -> dict[str, Any]:
    """What a force's client uses: its own SCRAM principal on the SASL listener."""
    return {
        "bootstrap_servers": sasl_bootstrap(),
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


def force_user_name(slug: str) -> str:
    # The deployment's prefix is part of the name so a test run's users never replace
    # the credentials of the system running beside it.
    return f"{acl_prefix()}force-{slug}"
