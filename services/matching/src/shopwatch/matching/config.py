"""Matching's settings: the shared runtime ones plus the prolific rule."""

from __future__ import annotations

from pydantic import Field

from shopwatch.runtime.settings import RuntimeSettings


class MatchingSettings(RuntimeSettings):
    service_name: str = "matching"
    service_port: int = 8004
    prolific_min_reports: int = Field(default=5, ge=2)
    prolific_window_days: int = Field(default=90, ge=1)
    prolific_min_stores: int = Field(default=3, ge=2)
