"""Helpers shared by the hostile-input tests: the services' common settings, dead letters
read with their headers as text, and the check that a log holds none of the stack's
secrets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

Record = Any


def common_settings(stack_env: Any, prefix: str) -> dict[str, Any]:
    """What every in-process service of these tests shares: the stack, the module's topic
    prefix, and short retries so a refused message reaches the DLQ in well under a second."""
    return {
        "kafka_bootstrap": stack_env.kafka_bootstrap,
        "mongo_url": SecretStr(stack_env.mongo_url),
        "topic_prefix": prefix,
        "outbox_poll_interval_s": 0.2,
        "consumer_backoff_initial_s": 0.05,
        "consumer_backoff_max_s": 0.2,
    }


def s3_settings(stack_env: Any, bucket: str) -> dict[str, Any]:
    return {
        "s3_endpoint": stack_env.s3_endpoint,
        "s3_access_key": stack_env.s3_access_key,
        "s3_secret_key": SecretStr(stack_env.s3_secret_key),
        "s3_secure": stack_env.s3_secure,
        "evidence_bucket": bucket,
    }


@dataclass(frozen=True)
class Letter:
    """A dead letter: the record's key and value, and its headers decoded as text."""

    key: bytes | None
    value: bytes
    headers: dict[str, str]


def letters(records: Iterable[Record]) -> list[Letter]:
    return [
        Letter(r.key, r.value, {k: v.decode("utf-8", "replace") for k, v in r.headers})
        for r in records
    ]


async def read_letters(
    read_topic: Callable[..., Awaitable[list[Record]]],
    dlq: str,
    want: Callable[[list[Letter]], bool],
    timeout_s: float = 30.0,
) -> list[Letter]:
    """Every letter on `dlq` once `want` holds (or the timeout passed)."""
    records = await read_topic(
        dlq,
        until=lambda rs: want(letters(rs)),
        idle_s=0.5,
        timeout_s=timeout_s,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    return letters(records)


def stack_secrets(stack_env: Any) -> list[str]:
    values = [stack_env.s3_secret_key, stack_env.kafka_admin_password or ""]
    return [v for v in values if len(v) >= 6]


def assert_no_secrets(text: str, secret_values: Iterable[str]) -> None:
    for value in secret_values:
        assert value not in text, "a secret reached the log"
