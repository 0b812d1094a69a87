"""Matching's own metrics."""

from prometheus_client import Counter, Histogram

MATCHING_SECONDS = Histogram(
    "shopwatch_matching_seconds",
    "Time to match one report's offenders against the profiles.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
LINKS = Counter("shopwatch_matching_links_total", "Offender links announced (auto and possible).")
LINK_DECISIONS = Counter(
    "shopwatch_matching_link_decisions_total",
    "Forces' link decisions applied, by decision (confirmed, rejected).",
    ["decision"],
)
