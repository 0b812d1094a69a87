"""A force's Kafka principal on another force's topics: the broker refuses both the read
and the write, and its authorizer logs each denial with the principal and the topic
(never the password). The log is the local broker's output, kept by deploy/local."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.errors import TopicAuthorizationFailedError  # type: ignore[import-untyped]

from shopwatch.runtime.kafka_security import (
    AdminConnection,
    grant_force_access,
    revoke_force_access,
    upsert_scram_user,
)
from shopwatch.schemas.topics import ForceTopicKind, force_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KAFKA_LOG = Path(__file__).resolve().parents[3] / ".cache" / "local" / "logs" / "kafka.log"


@pytest.fixture(scope="module")
async def durham(stack_env: Any, registry_topics: str) -> AsyncIterator[dict[str, Any]]:
    if not stack_env.kafka_sasl_bootstrap:
        pytest.skip("no SASL listener (testcontainers): ACLs are tested on the local stack")
    conn = AdminConnection(stack_env.kafka_bootstrap)
    user, password = f"{registry_topics}durham-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
    await upsert_scram_user(conn, user, password)
    await grant_force_access(conn, "durham", user, topic_prefix=registry_topics)
    try:
        yield {
            "bootstrap_servers": stack_env.kafka_sasl_bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
    finally:
        await revoke_force_access(conn, user)


def denials(user: str, topic: str) -> list[str]:
    text = KAFKA_LOG.read_text(errors="replace") if KAFKA_LOG.exists() else ""
    return [
        line
        for line in text.splitlines()
        if f"Principal = User:{user} is Denied" in line and f"Topic:LITERAL:{topic} " in line
    ]


async def test_another_forces_topics_are_refused_and_the_denials_logged(
    durham: dict[str, Any], registry_topics: str
) -> None:
    user = durham["sasl_plain_username"]
    their_updates = registry_topics + force_topic("cleveland", ForceTopicKind.UPDATES)
    their_cases = registry_topics + force_topic("cleveland", ForceTopicKind.CASES)
    own_updates = registry_topics + force_topic("durham", ForceTopicKind.UPDATES)

    producer = AIOKafkaProducer(**durham)
    await producer.start()
    try:
        await producer.send_and_wait(own_updates, b"{}")  # its own topic: allowed
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(their_updates, b'{"forged": true}')
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        their_cases,
        group_id=f"{registry_topics}force.durham.listen",
        auto_offset_reset="earliest",
        **durham,
    )
    with pytest.raises(TopicAuthorizationFailedError):
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=10_000)
        finally:
            await consumer.stop()

    if not KAFKA_LOG.exists():
        pytest.skip(f"no broker log at {KAFKA_LOG} (not the local stack)")
    for _ in range(50):  # the broker's output is flushed line by line, but not at once
        if denials(user, their_updates) and denials(user, their_cases):
            break
        await asyncio.sleep(0.1)
    assert denials(user, their_updates), "the forged write was not logged"
    assert denials(user, their_cases), "the read of another force's cases was not logged"
    assert not denials(user, own_updates), "its own topic was refused"
    assert durham["sasl_plain_password"] not in KAFKA_LOG.read_text(errors="replace")
