"""`shopwatch admin force add`, `force listen` and `force update` as a force would run them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shopwatch.runtime.provisioning import ensure_topics
from shopwatch.schemas.events import CaseRouted
from shopwatch.schemas.examples import example_envelope
from shopwatch.schemas.topics import force_topic

pytestmark = pytest.mark.integration


def shopwatch(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shopwatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
async def cli_prefix(stack_env: Any, topic_prefix: str) -> str:
    """Topics of this module alone: other tests' cases on durham's topic must not show."""
    prefix = f"{topic_prefix}cli{secrets.token_hex(2)}."
    await ensure_topics(stack_env.kafka_bootstrap, prefix=prefix, partitions_override=1)
    return prefix


@pytest.fixture(scope="module")
def cli_env(cli_prefix: str) -> dict[str, str]:
    return {**os.environ, "SHOPWATCH_TOPIC_PREFIX": cli_prefix}


@pytest.fixture(scope="module")
def durham(cli_env: dict[str, str]) -> Any:
    added = shopwatch(cli_env, "--json", "admin", "force", "add", "Durham")
    assert added.returncode == 0, added.stderr
    credentials = json.loads(added.stdout)
    assert credentials["force"] == "durham"
    assert credentials["evidence_api_token"].startswith("swf_")
    yield credentials
    removed = shopwatch(cli_env, "admin", "force", "remove", "durham")
    assert removed.returncode == 0, removed.stderr


async def test_force_lists_its_cases_and_writes_case_files(
    cli_env: dict[str, str],
    durham: dict[str, Any],
    cli_prefix: str,
    publish: Callable[..., Awaitable[None]],
    tmp_path: Path,
) -> None:
    envelope = example_envelope(CaseRouted)
    topic = f"{cli_prefix}{force_topic('durham')}"
    await publish(topic, envelope.model_dump_json().encode(), envelope.payload.case_id.encode())
    listened = shopwatch(
        cli_env,
        "force",
        "listen",
        "durham",
        "--password",
        durham["kafka_password"],
        "--user",
        durham["kafka_username"],
        "--out",
        str(tmp_path),
        "--max",
        "1",
        "--idle-timeout",
        "20",
    )
    assert listened.returncode == 0, listened.stderr
    printed = json.loads(listened.stdout.splitlines()[0])
    assert printed["payload"]["case_id"] == envelope.payload.case_id
    case_file = json.loads((tmp_path / f"{envelope.payload.case_id}.json").read_text())
    assert case_file["payload"]["reference"] == envelope.payload.reference


async def test_force_update_goes_to_its_own_topic_only(
    cli_env: dict[str, str],
    durham: dict[str, Any],
    cli_prefix: str,
    read_topic: Callable[..., Awaitable[list[Any]]],
) -> None:
    creds = ["--user", durham["kafka_username"], "--password", durham["kafka_password"]]
    sent = shopwatch(
        cli_env,
        "--json",
        "force",
        "update",
        "case-123",
        "--force",
        "durham",
        "--status",
        "crime_recorded",
        "--crime-ref",
        "DUR/1/26",
        *creds,
    )
    assert sent.returncode == 0, sent.stderr
    event_id = json.loads(sent.stdout)["event_id"]
    records = await read_topic(
        f"{cli_prefix}{force_topic('durham', 'updates')}",
        until=lambda rs: any(event_id.encode() in r.value for r in rs),
    )
    assert sum(event_id.encode() in r.value for r in records) == 1
    refused = shopwatch(
        cli_env,
        "force",
        "update",
        "case-123",
        "--force",
        "cleveland",
        "--status",
        "acknowledged",
        *creds,
    )
    assert refused.returncode == 1
    assert "TopicAuthorizationFailed" in refused.stderr and "Traceback" not in refused.stderr


def test_bad_force_input_is_a_clear_cli_error(cli_env: dict[str, str]) -> None:
    unknown = shopwatch(cli_env, "admin", "force", "add", "atlantis")
    assert unknown.returncode == 2 and "unknown force 'atlantis'" in unknown.stderr
    missing_ref = shopwatch(
        cli_env,
        "force",
        "update",
        "c1",
        "--force",
        "durham",
        "--status",
        "crime_recorded",
        "--password",
        "x",
    )
    assert missing_ref.returncode == 2
    assert "crime_reference" in missing_ref.stderr and "Traceback" not in missing_ref.stderr
