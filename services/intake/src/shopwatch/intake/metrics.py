"""Intake's own metrics: reports accepted and refused, by reason."""

from prometheus_client import Counter

REPORTS_RECEIVED = Counter(
    "shopwatch_reports_received_total",
    "Reports accepted (202 single, or accepted items of a batch).",
    ["path"],
)
REPORTS_REJECTED = Counter(
    "shopwatch_reports_rejected_total",
    "Report submissions refused, by reason (HTTP answers and rejected batch items).",
    ["reason"],
)

# Created at zero so a first refusal shows as an increase, not as a new series.
for _reason in (
    "invalid",
    "unauthenticated",
    "rate_limited",
    "not_found",
    "conflict",
    "too_large",
    "unsupported_media_type",
    "unavailable",
):
    REPORTS_REJECTED.labels(_reason)
for _path in ("single", "batch"):
    REPORTS_RECEIVED.labels(_path)

REASON_BY_STATUS = {
    400: "invalid",
    401: "unauthenticated",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}
