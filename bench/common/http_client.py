"""A lean HTTP/1.1 keep-alive client for load generation, on asyncio streams.

Why not httpx: on the two-core benchmark machine the httpx clients of the intake
benchmark took 55-90% of a core at ~140 requests/s (measured with `top` during the
single-report phase), CPU taken from the service being measured. This client writes
pre-encoded request bytes and parses only the status line, the headers it needs and a
`Content-Length` body: what uvicorn answers JSON with. It is for benchmarks against our
own services on 127.0.0.1, not a general HTTP client (no TLS, no chunked bodies, no
redirects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class HttpClientError(ConnectionError):
    """The connection failed or the answer was not HTTP/1.1 as expected."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


# uvicorn closes a keep-alive connection idle for 5 s; one idle longer than this is
# dropped rather than reused, or a request could be written into a closing socket.
IDLE_REUSE_S = 3.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()

    async def exchange(self, request: bytes) -> tuple[Answer, bool]:
        """Send one request, read its answer; also whether the connection stays open."""
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpClientError(f"not an HTTP/1.x status line: {lines[0]!r}")
        length, keep_alive = 0, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding":
                raise HttpClientError("chunked answers are not supported here")
            elif name == "connection" and value.strip().lower() == "close":
                keep_alive = False
        body = await self.reader.readexactly(length) if length else b""
        return Answer(int(parts[1]), body), keep_alive

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class LeanClient:
    """Up to `connections` keep-alive connections to one base URL, fixed headers."""

    def __init__(self, base_url: str, headers: dict[str, str], connections: int) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"plain http://host:port only, got {base_url!r}")
        self._host, self._port = url.hostname, url.port or 80
        fixed = {"Host": f"{self._host}:{self._port}", **headers}
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    def _request(self, method: str, path: str, body: bytes) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\n{self._headers}Content-Length: {len(body)}\r\n\r\n"
        return head.encode("latin-1") + body

    async def post(self, path: str, content: bytes) -> Answer:
        return await self._send(self._request("POST", path, content))

    async def get(self, path: str) -> Answer:
        return await self._send(self._request("GET", path, b""))

    async def _send(self, request: bytes) -> Answer:
        async with self._slots:
            connection = None
            while self._idle and connection is None:
                candidate = self._idle.pop()
                if time.monotonic() - candidate.idle_since < IDLE_REUSE_S:
                    connection = candidate
                else:
                    await candidate.close()
            if connection is None:
                try:
                    reader, writer = await asyncio.open_connection(self._host, self._port)
                except OSError as exc:
                    raise HttpClientError(f"connect: {exc}") from exc
                connection = _Connection(reader, writer)
            try:
                answer, keep_alive = await connection.exchange(request)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                await connection.close()
                raise HttpClientError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                await connection.close()
                raise
            if keep_alive:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                await connection.close()
            return answer

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
