"""Evidence's Prometheus metrics (module-level: a name registers once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVIDENCE_BYTES = Counter(
    "shopwatch_evidence_bytes",
    "Bytes of uploaded masters read back and verified by the server, by outcome.",
    ["outcome"],
)
VERIFICATION_SECONDS = Histogram(
    "shopwatch_evidence_verification_seconds",
    "Time from claiming an uploaded master to its verdict (hash, content check, probe).",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
REJECTED = Counter(
    "shopwatch_evidence_rejected",
    "Uploads rejected by verification, by reason.",
    ["reason"],
)
UPLOADS_STARTED = Counter("shopwatch_evidence_uploads_started", "Upload sessions opened.")
DERIVATIVES = Counter(
    "shopwatch_evidence_derivatives",
    "Derived copies made (preview, still, thumbnail strip), by kind and outcome.",
    ["kind", "outcome"],
)
MEDIA_JOBS_KILLED = Counter(
    "shopwatch_evidence_media_jobs_killed",
    "Media worker processes killed at their time limit, by mode (probe, derive).",
    ["mode"],
)
ACCESS = Counter(
    "shopwatch_evidence_access",
    "Evidence reads, by caller kind and what was read (metadata, download, custody).",
    ["caller", "what"],
)
DELETED = Counter(
    "shopwatch_evidence_deleted",
    "Evidence items deleted by the sweep, by why (retention, rejected, abandoned).",
    ["why"],
)
