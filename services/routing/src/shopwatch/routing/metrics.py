"""Routing's own metrics (the consumer and outbox ones come from the runtime)."""

from prometheus_client import Counter, Histogram

CASES_ROUTED = Counter(
    "shopwatch_cases_routed_total", "Cases published to a force for the first time.", ["force"]
)
CASE_PACKAGES = Counter(
    "shopwatch_case_packages_total", "CaseRouted packages published (first and updates).", ["force"]
)
UNROUTABLE = Counter(
    "shopwatch_unroutable_reports_total", "Reports no force could be determined for."
)
UPDATES_APPLIED = Counter(
    "shopwatch_force_updates_applied_total", "Force updates applied to cases.", ["force", "kind"]
)
UPDATES_REFUSED = Counter(
    "shopwatch_force_updates_refused_total",
    "Force updates refused (wrong force, unknown case, impossible transition).",
    ["force"],
)
SUBMISSION_TO_FORCE = Histogram(
    "shopwatch_submission_to_force_seconds",
    "Time from a report's acceptance by intake to its case being committed for the force.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
