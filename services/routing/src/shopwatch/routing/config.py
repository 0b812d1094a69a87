"""Routing's settings: the shared runtime ones, on its own port."""

from __future__ import annotations

from shopwatch.runtime.settings import RuntimeSettings


class RoutingSettings(RuntimeSettings):
    service_name: str = "routing"
    service_port: int = 8003
