"""Retailer keys through intake's /v1/me (cached), and police force tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shopwatch.evidence import force_tokens
from shopwatch.evidence.auth import (
    CachedRetailerDirectory,
    ForceCaller,
    ForceTokens,
    HttpRetailerDirectory,
    IdentityUnavailable,
    NotAuthenticated,
    RetailerCaller,
)

KEY = "sw_0123456789ab_" + "s" * 43


def directory(handler: Any) -> HttpRetailerDirectory:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://intake")
    return HttpRetailerDirectory(client)


async def test_intake_answers_who_the_key_belongs_to() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        assert request.url.path == "/v1/me"
        return httpx.Response(200, json={"retailer_id": "ret_1", "key_id": "0123456789ab"})

    caller = await directory(handler).identify(KEY)
    assert caller == RetailerCaller("ret_1", "0123456789ab")
    assert caller.actor.id == "ret_1/0123456789ab"
    assert seen == [f"Bearer {KEY}"]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401, json={"detail": "no"}), NotAuthenticated),
        (httpx.Response(503, json={"detail": "busy"}), IdentityUnavailable),
        (httpx.Response(200, json={"unexpected": True}), IdentityUnavailable),
        (httpx.Response(200, content=b"not json"), IdentityUnavailable),
    ],
)
async def test_intake_refusals_and_failures(
    response: httpx.Response, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await directory(lambda _: response).identify(KEY)


async def test_intake_unreachable_is_unavailable_not_unauthenticated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(IdentityUnavailable):
        await directory(handler).identify(KEY)


class CountingDirectory:
    def __init__(self) -> None:
        self.calls = 0
        self.refuse: set[str] = set()

    async def identify(self, api_key: str) -> RetailerCaller:
        self.calls += 1
        if api_key in self.refuse:
            raise NotAuthenticated
        return RetailerCaller("ret_" + api_key[-1], "k")


async def test_the_cache_keeps_positive_answers_briefly_and_never_the_key() -> None:
    inner = CountingDirectory()
    now = [0.0]
    cached = CachedRetailerDirectory(inner, ttl_s=30, max_entries=2, clock=lambda: now[0])
    await cached.identify("key-a")
    await cached.identify("key-a")
    assert inner.calls == 1
    now[0] = 31.0
    await cached.identify("key-a")
    assert inner.calls == 2  # expired: asked again
    assert "key-a" not in repr(cached._entries)  # hashed, never the usable key
    await cached.identify("key-b")
    await cached.identify("key-c")
    assert len(cached) == 2  # bounded: the least recently used went


async def test_refusals_are_not_cached() -> None:
    inner = CountingDirectory()
    inner.refuse.add("key-x")
    cached = CachedRetailerDirectory(inner, ttl_s=30)
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            await cached.identify("key-x")
    assert inner.calls == 2
    inner.refuse.clear()
    assert (await cached.identify("key-x")).retailer_id == "ret_x"


async def test_force_tokens_are_checked_against_their_hash() -> None:
    issued = force_tokens.issue_token()
    assert issued.plaintext.startswith("swf_") and issued.secret_hash not in issued.plaintext
    records = {issued.token_id: {"force": "durham", "hash": issued.secret_hash, "revoked_at": None}}

    async def lookup(token_id: str) -> dict[str, Any] | None:
        return records.get(token_id)

    tokens = ForceTokens(lookup)
    caller = await tokens.identify(issued.plaintext)
    assert caller == ForceCaller("durham", issued.token_id)
    assert caller.actor.id == f"durham/{issued.token_id}"
    wrong_secret = issued.plaintext[:-4] + "AAAA"
    for bad in (wrong_secret, "swf_nothex_" + "x" * 43, "swf_short", "sw_0123456789ab_" + "x" * 43):
        with pytest.raises(NotAuthenticated):
            await tokens.identify(bad)
    records[issued.token_id]["revoked_at"] = "2026-01-01"
    with pytest.raises(NotAuthenticated):
        await tokens.identify(issued.plaintext)


def test_token_shapes() -> None:
    assert force_tokens.looks_like_force_token("swf_abc")
    assert not force_tokens.looks_like_force_token("sw_abc")
    with pytest.raises(force_tokens.MalformedToken):
        force_tokens.parse_token("swf_0123456789ab_short")
