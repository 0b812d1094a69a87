"""Notify's Prometheus metrics (module-level: one registration per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EMAILS_SENT = Counter(
    "shopwatch_emails_sent", "Emails the SMTP server accepted, by template.", ["template"]
)
EMAILS_FAILED = Counter(
    "shopwatch_emails_failed",
    "Emails given up on for one recipient (refused address, invalid address, rejected).",
    ["reason"],
)
EMAILS_RETRIED = Counter(
    "shopwatch_emails_retried",
    "Send attempts that failed for a reason a retry may cure (server down, 4xx).",
    ["reason"],
)
EMAILS_PENDING = Gauge(
    "shopwatch_emails_pending", "Emails recorded as pending (not yet accepted by SMTP)."
)
DIGEST_ITEMS_QUEUED = Counter(
    "shopwatch_digest_items_queued", "Updates kept for a daily digest instead of sent at once."
)
NOTIFY_EVENTS_FAILED = Counter(
    "shopwatch_notify_events_failed",
    "Events notify could not turn into emails (e.g. a report it never saw).",
    ["reason"],
)
