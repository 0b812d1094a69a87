"""Who is calling, whether they may, and whether they are within their quota."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shopwatch.intake.rate_limit import RateLimiter
from shopwatch.intake.service import Caller, IntakeService, NotAuthenticated

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="Retailer API key: `Bearer sw_<id>_<secret>`")

_UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="missing, invalid or revoked API key",
    headers={"WWW-Authenticate": "Bearer"},
)


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        log_refusal(request, 401, "no API key")
        raise _UNAUTHORIZED
    service: IntakeService = request.app.state.intake
    try:
        caller = await service.authenticate(credentials.credentials)
    except NotAuthenticated:
        # The key itself is never logged: a mistyped key is most of a real one.
        log_refusal(request, 401, "invalid or revoked API key")
        raise _UNAUTHORIZED from None
    request.state.caller = caller
    return caller


def log_refusal(request: Request, status: int, why: str) -> None:
    """One line per refused request (DPA 2018 s.62 wants attempts on others' data seen),
    naming the caller when known, the request and the reason; never credentials."""
    caller: Caller | None = getattr(request.state, "caller", None)
    log.warning(
        "refused %s %s with %d: %s",
        request.method,
        request.url.path,
        status,
        why,
        extra={
            "refused": status,
            "retailer_id": caller.retailer_id if caller else None,
            "key_id": caller.key_id if caller else None,
            "client": request.client.host if request.client else None,
        },
    )


async def caller_with_quota(
    request: Request, caller: Annotated[Caller, Depends(current_caller)]
) -> Caller:
    charge_quota(request, caller, 1)
    return caller


def charge_quota(request: Request, caller: Caller, cost: int) -> None:
    """Take `cost` reports from the caller's allowance or answer 429 with Retry-After.

    A batch is charged for what it carries (after parsing), so batching is no way around
    the limit.
    """
    if cost <= 0:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(caller.key_id, float(min(cost, limiter.burst)))
    if wait > 0:
        raise HTTPException(
            status_code=429,
            detail="rate limit exceeded for this API key",
            headers={"Retry-After": RateLimiter.retry_after_header(wait)},
        )


async def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise HTTPException(status_code=415, detail="Content-Type must be application/json")
