"""Runs ``media_worker`` jobs in a child process, with a wall-clock limit.

A child per job rather than a pool: a job that hangs in a decoder is killed with its
process and takes nothing else down; the start-up cost (importing PyAV, ~0.3 s) is small
next to the network read and the transcoding it wraps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sys
from typing import Any

_SIGNED_QUERY = re.compile(r"\?[^\s'\"]*")


def scrub(message: str, source: str) -> str:
    """The message without the source URL or its signed query string (a credential)."""
    name = source.split("?", 1)[0].rsplit("/", 1)[-1] or "input"
    return _SIGNED_QUERY.sub("", message.replace(source, name))[:1500]


class MediaJobFailed(Exception):
    """The worker crashed, was killed or answered nonsense."""


class MediaJobTimeout(MediaJobFailed):
    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"media processing took longer than {timeout_s:.0f} s")
        self.timeout_s = timeout_s


async def run_media_job(
    job: dict[str, Any], *, timeout_s: float, memory_mb: int = 4096
) -> dict[str, Any]:
    payload = {
        **job,
        "limits": {
            "memory_mb": memory_mb,
            "cpu_s": max(10, math.ceil(timeout_s * 4)),  # threads: CPU time > wall time
            "file_mb": 16384,
        },
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shopwatch.evidence.media_worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(payload).encode()), timeout_s)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise MediaJobTimeout(timeout_s) from None
    if proc.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        detail = scrub(last[0], str(job.get("source", "")))[:300]
        raise MediaJobFailed(f"media worker exited with status {proc.returncode}: {detail}")
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError as exc:
        raise MediaJobFailed("media worker answered something that is not JSON") from exc
    return result
