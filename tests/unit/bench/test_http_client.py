"""The benchmarks' lean HTTP client against a scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.common import http_client
from bench.common.http_client import HttpClientError, LeanClient


class Scripted:
    """Answers each request with the next canned answer; counts connections."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                writer.write(answer)
                await writer.drain()
                if b"Connection: close" in answer:
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, str]]:
    scripted = Scripted([])
    listening = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield scripted, f"http://127.0.0.1:{port}"


def answer(status: int, body: bytes, *extra: str) -> bytes:
    headers = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


async def test_answers_are_read_and_the_connection_is_kept(server: tuple[Scripted, str]) -> None:
    scripted, url = server
    scripted.answers += [answer(202, b'{"report_id": "r1"}'), answer(404, b"")]
    async with LeanClient(url, {"Authorization": "Bearer k"}, 4) as client:
        first = await client.post("/v1/reports", b'{"a": 1}')
        second = await client.get("/v1/reports/x")
    assert (first.status_code, first.json()) == (202, {"report_id": "r1"})
    assert (second.status_code, second.content) == (404, b"")
    assert scripted.connections == 1, "one keep-alive connection for both"
    assert scripted.requests[0].startswith(b"POST /v1/reports HTTP/1.1\r\n")
    assert b"Authorization: Bearer k\r\n" in scripted.requests[0]
    assert scripted.requests[0].endswith(b'\r\n\r\n{"a": 1}')


async def test_a_closed_connection_is_not_reused(server: tuple[Scripted, str]) -> None:
    scripted, url = server
    scripted.answers += [answer(200, b"a", "Connection: close"), answer(200, b"b")]
    async with LeanClient(url, {}, 1) as client:
        assert (await client.get("/")).content == b"a"
        assert (await client.get("/")).content == b"b"
    assert scripted.connections == 2


async def test_chunked_answers_are_refused_clearly(server: tuple[Scripted, str]) -> None:
    scripted, url = server
    scripted.answers.append(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    async with LeanClient(url, {}, 1) as client:
        with pytest.raises(HttpClientError, match="chunked"):
            await client.get("/")


async def test_nobody_listening_is_a_client_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with LeanClient(f"http://127.0.0.1:{port}", {}, 1) as client:
        with pytest.raises(HttpClientError, match="connect"):
            await client.get("/")


def test_only_plain_http_urls() -> None:
    with pytest.raises(ValueError, match="plain http"):
        LeanClient("https://127.0.0.1:1", {}, 1)


async def test_a_connection_idle_too_long_is_not_reused(
    server: tuple[Scripted, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted, url = server
    scripted.answers += [answer(200, b"a"), answer(200, b"b")]
    async with LeanClient(url, {}, 1) as client:
        assert (await client.get("/")).content == b"a"
        monkeypatch.setattr(http_client, "IDLE_REUSE_S", 0.0)
        assert (await client.get("/")).content == b"b"
    assert scripted.connections == 2, "the idle connection was replaced, not reused"
