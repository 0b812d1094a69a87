"""The Prometheus metrics of the runtime, defined once per process.

prometheus-client refuses to register a metric name twice in a registry, and a process
may build several relays or consumers (tests do), so the metrics are module-level
singletons in the default registry, told apart by labels.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

PREFIX = "shopwatch"

# --- outbox relay (label: the MongoDB collection the entries wait in)
OUTBOX_PENDING = Gauge(
    f"{PREFIX}_outbox_pending",
    "Outbox entries written but not yet published.",
    ["collection"],
)
OUTBOX_OLDEST_AGE = Gauge(
    f"{PREFIX}_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox entry (0 when none).",
    ["collection"],
)
OUTBOX_PUBLISHED = Counter(
    f"{PREFIX}_outbox_published",
    "Outbox entries published to Kafka and removed from the outbox.",
    ["collection", "topic"],
)
OUTBOX_PUBLISH_ERRORS = Counter(
    f"{PREFIX}_outbox_publish_errors",
    "Relay cycles that failed (the entries stay pending and are retried).",
    ["collection"],
)

# --- idempotent consumers (labels: topic, and the consumer group)
EVENTS_CONSUMED = Counter(
    f"{PREFIX}_events_consumed", "Messages received by a consumer.", ["topic", "group"]
)
EVENTS_PROCESSED = Counter(
    f"{PREFIX}_events_processed", "Events handled successfully.", ["topic", "group"]
)
EVENTS_RETRIED = Counter(
    f"{PREFIX}_events_retried",
    "Handler attempts retried after a transient error.",
    ["topic", "group"],
)
EVENTS_DEAD_LETTERED = Counter(
    f"{PREFIX}_events_dead_lettered",
    "Messages sent to the dead-letter topic.",
    ["topic", "group", "reason"],
)
EVENTS_DUPLICATE = Counter(
    f"{PREFIX}_events_duplicate", "Events skipped as already processed.", ["topic", "group"]
)
PROCESSED_EVENTS_PRUNED = Counter(
    f"{PREFIX}_processed_events_pruned",
    "Records of processed events deleted after the longest topic retention.",
)
PROCESSED_EVENTS_PRUNE_ERRORS = Counter(
    f"{PREFIX}_processed_events_prune_errors",
    "Prunes of processed-event records that failed (tried again at the next interval).",
)
HANDLER_DURATION = Histogram(
    f"{PREFIX}_event_handler_duration_seconds",
    "Time spent in a handler, retries included.",
    ["topic", "group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = Gauge(
    f"{PREFIX}_consumer_lag",
    "Messages behind the partition's high watermark, per topic and group "
    "(summed over the partitions this process owns).",
    ["topic", "group"],
)
CONSUMER_STOPPED = Gauge(
    f"{PREFIX}_consumer_stopped",
    "1 when a consumer stopped itself because dead-lettering exceeded its rate limit.",
    ["topic", "group"],
)

__all__ = [
    "CONSUMER_LAG",
    "CONSUMER_STOPPED",
    "EVENTS_CONSUMED",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_DUPLICATE",
    "EVENTS_PROCESSED",
    "EVENTS_RETRIED",
    "HANDLER_DURATION",
    "OUTBOX_OLDEST_AGE",
    "OUTBOX_PENDING",
    "OUTBOX_PUBLISHED",
    "OUTBOX_PUBLISH_ERRORS",
    "REGISTRY",
]
