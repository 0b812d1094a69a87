"""A service process as `__main__` runs it: uvicorn, JSON logs on stdout, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time

import httpx
import pytest

from shopwatch.runtime.settings import RuntimeSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# What a service's __main__ looks like (plus one log line that must be redacted).
MAIN = """
import logging, os
from shopwatch.runtime.service_main import run_service
from shopwatch.runtime.settings import RuntimeSettings

def wire(service):
    logging.getLogger("it.wire").info(
        "wired; s3 key is %s", os.environ["SHOPWATCH_S3_SECRET_KEY"]
    )

run_service(RuntimeSettings(), wire)
"""

SECRET = "it-secret-0f9e8d7c6b5a"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_service_main_serves_health_logs_json_and_stops_on_sigterm(
    settings: RuntimeSettings,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SHOPWATCH_SERVICE_NAME": "runtime-it",
        "SHOPWATCH_SERVICE_PORT": str(port),
        "SHOPWATCH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "SHOPWATCH_MONGO_URL": settings.mongo_url.get_secret_value(),
        "SHOPWATCH_S3_SECRET_KEY": SECRET,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MAIN,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while time.monotonic() < deadline and process.returncode is None:
                try:
                    status = (await client.get("/health/ready", timeout=3)).status_code
                except httpx.TransportError:
                    status = None
                if status == 200:
                    break
                await asyncio.sleep(0.2)
            assert status == 200, "the service never became ready"
            assert (await client.get("/metrics")).status_code == 200
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so the exit
    # status says "terminated by SIGTERM"; the "stopped" log line below proves the
    # lifespan's shutdown ran.
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode()[-2000:]

    text = stdout.decode()
    assert SECRET not in text and SECRET not in stderr.decode()
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert entries, "no log lines on stdout"
    assert all(e["service"] == "runtime-it" for e in entries)
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in entries)
    messages = [e["message"] for e in entries]
    assert any("wired; s3 key is [REDACTED]" in m for m in messages)
    assert any("runtime-it started" in m for m in messages)
    assert any("runtime-it stopped" in m for m in messages)
