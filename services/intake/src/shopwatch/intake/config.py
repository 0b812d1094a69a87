"""Intake's settings: the shared runtime ones plus the limits of the retailers' API."""

from __future__ import annotations

from pydantic import Field

from shopwatch.runtime.settings import RuntimeSettings


class IntakeSettings(RuntimeSettings):
    service_name: str = "intake"
    service_port: int = 8001
    # Public base URL of the retailers' view, used in links (emails, CLI output).
    public_base_url: str = "http://127.0.0.1:8001"
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_batch_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_batch_reports: int = Field(default=500, ge=1, le=5_000)
    # Reports per second per API key (a batch costs one token per report it carries).
    rate_limit_per_second: float = Field(default=200.0, gt=0)
    rate_limit_burst: int = Field(default=1_000, ge=1)
    # API keys and stores are remembered this long: a revoked key stops working, and a
    # store's changed details are used, within it. 0 reads them on every request.
    tenant_cache_s: float = Field(default=1.0, ge=0, le=60)
