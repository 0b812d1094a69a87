"""The HTTP layer: callers, and every refusal a 4xx that names the field (never a 5xx)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from shopwatch.evidence import force_tokens
from shopwatch.evidence.app import configure_http
from shopwatch.evidence.auth import (
    ForceCaller,
    ForceTokens,
    IdentityUnavailable,
    NotAuthenticated,
    RetailerCaller,
)
from shopwatch.evidence.custody_store import NotApplied
from shopwatch.evidence.domain import DEFAULT_LIMITS, EvidenceError
from shopwatch.evidence.service import Forbidden, NotFound, Unavailable

NOW = datetime(2026, 3, 1, tzinfo=UTC)
KEY = "sw_0123456789ab_" + "k" * 43
TOKEN = force_tokens.issue_token()


def evidence_doc(**extra: Any) -> dict[str, Any]:
    return {
        "_id": "ev_1",
        "report_id": "rep_1",
        "exhibit_ref": "AM/1",
        "file_name": "cam.mp4",
        "status": "initiated",
        "size": 20 * 1024 * 1024,
        "declared_media_type": "video/mp4",
        "declared_sha256": "a" * 64,
        "part_size": 16 * 1024 * 1024,
        "part_count": 2,
        "created_at": NOW,
        "custody_head": {"seq": 0, "entry_hash": "g"},
        **extra,
    }


class FakeService:
    limits = DEFAULT_LIMITS

    def __init__(self) -> None:
        self.raise_next: Exception | None = None
        self.callers: list[object] = []

    def _maybe_raise(self, caller: object) -> None:
        self.callers.append(caller)
        if self.raise_next is not None:
            error, self.raise_next = self.raise_next, None
            raise error

    async def initiate(
        self, caller: object, report_id: str, request: Any
    ) -> tuple[dict[str, Any], bool]:
        self._maybe_raise(caller)
        return evidence_doc(), request.file_name != "again.mp4"

    async def view(self, caller: object, evidence_id: str, reason: str | None) -> dict[str, Any]:
        self._maybe_raise(caller)
        return evidence_doc(status="stored", sha256="b" * 64)

    async def uploaded_parts(
        self, caller: object, evidence_id: str
    ) -> tuple[dict[str, Any], list[Any]]:
        from shopwatch.evidence.domain import UploadedPart

        self._maybe_raise(caller)
        return evidence_doc(), [UploadedPart(1, 16 * 1024 * 1024, "e1"), UploadedPart(2, 5, "e2")]

    async def complete(self, caller: object, evidence_id: str) -> dict[str, Any]:
        self._maybe_raise(caller)
        return evidence_doc(status="uploaded")


class FakeRetailers:
    async def identify(self, api_key: str) -> RetailerCaller:
        if api_key == "down":
            raise IdentityUnavailable("intake is unreachable")
        if api_key != KEY:
            raise NotAuthenticated
        return RetailerCaller("ret_1", "0123456789ab")


async def token_lookup(token_id: str) -> dict[str, Any] | None:
    if token_id == TOKEN.token_id:
        return {"force": "durham", "hash": TOKEN.secret_hash, "revoked_at": None}
    return None


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
async def client(service: FakeService) -> Any:
    app = FastAPI()
    configure_http(app, cast(Any, service), cast(Any, FakeRetailers()), ForceTokens(token_lookup))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://evidence") as http:
        yield http


RETAILER = {"Authorization": f"Bearer {KEY}"}
BODY = {"file_name": "cam.mp4", "size": 10, "media_type": "video/mp4", "sha256": "a" * 64}


async def test_retailer_and_force_callers(client: httpx.AsyncClient, service: FakeService) -> None:
    created = await client.post("/v1/reports/rep_1/evidence", json=BODY, headers=RETAILER)
    assert created.status_code == 201 and created.json()["resumed"] is False
    again = await client.post(
        "/v1/reports/rep_1/evidence", json={**BODY, "file_name": "again.mp4"}, headers=RETAILER
    )
    assert again.status_code == 200 and again.json()["resumed"] is True
    viewed = await client.get(
        "/v1/evidence/ev_1",
        params={"reason": "case work"},
        headers={"Authorization": f"Bearer {TOKEN.plaintext}"},
    )
    assert viewed.status_code == 200 and viewed.json()["sha256"] == "b" * 64
    assert service.callers[-1] == ForceCaller("durham", TOKEN.token_id)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ({"Authorization": "Bearer sw_wrong"}, 401),
        ({"Authorization": "Bearer swf_0123456789ab_" + "x" * 43}, 401),
        ({"Authorization": "Bearer down"}, 503),
    ],
)
async def test_credentials(client: httpx.AsyncClient, headers: dict[str, str], status: int) -> None:
    response = await client.get("/v1/evidence/ev_1", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"
    else:
        assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    ("error", "status", "field"),
    [
        (EvidenceError("empty", field="size", code="empty_file"), 400, "size"),
        (EvidenceError("big", field="size", code="too_large"), 413, "size"),
        (EvidenceError("twice", field="status", code="conflict"), 409, "status"),
        (EvidenceError("missing 2", field="parts", code="incomplete_upload"), 409, "parts"),
        (EvidenceError("gone", field="evidence_id", code="upload_gone"), 410, "evidence_id"),
        (EvidenceError("why?", field="reason", code="reason_required"), 400, "reason"),
        (NotFound("evidence ev_1 not found"), 404, None),
        (Forbidden("forces read only"), 403, None),
        (Unavailable("S3 down"), 503, None),
        (NotApplied("changed"), 409, None),
    ],
)
async def test_refusals_map_to_clear_statuses(
    client: httpx.AsyncClient,
    service: FakeService,
    error: Exception,
    status: int,
    field: str | None,
) -> None:
    service.raise_next = error
    response = await client.post("/v1/evidence/ev_1/complete", headers=RETAILER)
    assert response.status_code == status
    assert response.json().get("field") == field
    assert response.json()["detail"]


async def test_malformed_bodies_are_422_naming_the_field(client: httpx.AsyncClient) -> None:
    for body, field in [
        ({**BODY, "size": "big"}, "size"),
        ({k: v for k, v in BODY.items() if k != "sha256"}, "sha256"),
        ({**BODY, "extra": 1}, "extra"),
        ({**BODY, "stills_at_seconds": ["x"]}, "stills_at_seconds"),
    ]:
        response = await client.post("/v1/reports/rep_1/evidence", json=body, headers=RETAILER)
        assert response.status_code == 422
        assert field in response.json()["detail"][0]["loc"]


async def test_uploaded_lists_parts_and_what_is_missing(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/evidence/ev_1/uploaded", headers=RETAILER)
    body = response.json()
    assert [p["number"] for p in body["parts"]] == [1, 2]
    assert body["missing"] == [2]  # part 2 is there but short: send it again
