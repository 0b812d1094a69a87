"""Counts what happens to report submissions, from the HTTP answers.

An ASGI wrapper rather than code in each handler: refusals happen in many places
(authentication, size limit, validation, rate limit), and the status code is the one
place they all meet.
"""

from __future__ import annotations

from typing import Any

from shopwatch.intake.metrics import REASON_BY_STATUS, REPORTS_RECEIVED, REPORTS_REJECTED


class ReportSubmissionMetrics:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not path.startswith("/v1/reports")
        ):
            await self.app(scope, receive, send)
            return

        async def observe(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status == 202:
                    REPORTS_RECEIVED.labels("single").inc()
                elif status in REASON_BY_STATUS:
                    REPORTS_REJECTED.labels(REASON_BY_STATUS[status]).inc()
            await send(message)

        await self.app(scope, receive, observe)


def count_batch(accepted: int, rejected: int) -> None:
    """A 207 batch: its items are counted one by one (duplicates are neither)."""
    REPORTS_RECEIVED.labels("batch").inc(accepted)
    if rejected:
        REPORTS_REJECTED.labels("invalid").inc(rejected)
