"""Who is calling: a retailer (an intake API key) or a police force (a force token).

Retailer keys belong to intake, and evidence never reads intake's database: it asks
intake's ``GET /v1/me`` with the caller's key (``HttpRetailerDirectory``) and keeps a
positive answer for a short while (``CachedRetailerDirectory``), keyed by a hash of the
key so the cache never holds a usable credential. Unit tests use a fake directory.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from shopwatch.evidence import force_tokens
from shopwatch.evidence.custody import Actor, ActorKind


class NotAuthenticated(Exception):
    """Missing, malformed, unknown or revoked credential: one answer for all (401)."""


class IdentityUnavailable(Exception):
    """Intake could not be asked (down, timing out, answering 5xx): 503, retry later."""


@dataclass(frozen=True)
class RetailerCaller:
    retailer_id: str
    key_id: str

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind.RETAILER, f"{self.retailer_id}/{self.key_id}")


@dataclass(frozen=True)
class ForceCaller:
    force: str
    token_id: str

    @property
    def actor(self) -> Actor:
        return Actor(ActorKind.FORCE, f"{self.force}/{self.token_id}")


Caller = RetailerCaller | ForceCaller


class RetailerDirectory(Protocol):
    async def identify(self, api_key: str) -> RetailerCaller:
        """The retailer an API key belongs to; ``NotAuthenticated`` or
        ``IdentityUnavailable`` otherwise."""
        ...


class HttpRetailerDirectory:
    """Asks intake's ``GET /v1/me`` with the caller's own key."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @classmethod
    def for_url(cls, base_url: str, timeout_s: float) -> HttpRetailerDirectory:
        return cls(httpx.AsyncClient(base_url=base_url, timeout=timeout_s))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def identify(self, api_key: str) -> RetailerCaller:
        try:
            response = await self._client.get(
                "/v1/me", headers={"Authorization": f"Bearer {api_key}"}
            )
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"intake is unreachable: {type(exc).__name__}") from exc
        if response.status_code == 401:
            raise NotAuthenticated
        if response.status_code != 200:
            raise IdentityUnavailable(f"intake answered {response.status_code}")
        try:
            body = response.json()
            return RetailerCaller(str(body["retailer_id"]), str(body["key_id"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise IdentityUnavailable("intake's answer was not understood") from exc


class CachedRetailerDirectory:
    """Remembers positive answers for ``ttl_s`` (bounded, least recently used first out).

    A revoked key therefore keeps working here for at most ``ttl_s``; that is the price
    of not asking intake on every part URL request. Refusals are never cached, so a key
    issued a moment ago works at once.
    """

    def __init__(
        self,
        inner: RetailerDirectory,
        *,
        ttl_s: float = 30.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, RetailerCaller]] = OrderedDict()

    @staticmethod
    def cache_key(api_key: str) -> str:
        return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()

    async def identify(self, api_key: str) -> RetailerCaller:
        key = self.cache_key(api_key)
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None:
            expires, caller = hit
            if now < expires:
                self._entries.move_to_end(key)
                return caller
            del self._entries[key]
        caller = await self._inner.identify(api_key)
        if self._ttl_s > 0:
            self._entries[key] = (now + self._ttl_s, caller)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return caller

    def __len__(self) -> int:
        return len(self._entries)


class ForceTokens:
    """Checks ``swf_...`` tokens against their stored hashes (no cache: revocation is
    immediate, and the lookup is one read by primary key)."""

    def __init__(self, lookup: Callable[[str], Awaitable[Mapping[str, Any] | None]]) -> None:
        self._lookup = lookup

    async def identify(self, presented: str) -> ForceCaller:
        try:
            token = force_tokens.parse_token(presented)
        except force_tokens.MalformedToken as exc:
            raise NotAuthenticated from exc
        record = await self._lookup(token.token_id)
        if record is None or record.get("revoked_at") is not None:
            raise NotAuthenticated
        if not force_tokens.secret_matches(token, str(record.get("hash", ""))):
            raise NotAuthenticated
        return ForceCaller(str(record["force"]), token.token_id)
