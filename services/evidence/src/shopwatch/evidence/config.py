"""Evidence's settings: the shared runtime ones plus uploads, verification and access.

Every field reads from ``SHOPWATCH_<NAME>`` (e.g. ``SHOPWATCH_EVIDENCE_BUCKET``,
``SHOPWATCH_INTAKE_URL``), like the runtime's own settings.
"""

from __future__ import annotations

from pydantic import Field

from shopwatch.evidence.domain import GiB, MiB, UploadLimits
from shopwatch.runtime.settings import RuntimeSettings


class EvidenceSettings(RuntimeSettings):
    service_name: str = "evidence"
    service_port: int = 8002

    # --- S3
    evidence_bucket: str = Field(
        default="shopwatch-evidence", pattern=r"^[a-z0-9][a-z0-9.-]{2,62}$"
    )
    # The endpoint clients (shops, forces) reach S3 at, when it differs from the one the
    # service uses (a public name in front of a private address). Presigned URLs are
    # signed for this host. Empty: the same as `s3_endpoint`.
    s3_public_endpoint: str = ""
    # Create the bucket with S3 Object Lock and put a legal hold on every master, so the
    # server itself refuses to overwrite or delete it (where the server supports it).
    evidence_object_lock: bool = True
    # Send `If-None-Match: *` on the writes of masters and derivatives (S3 conditional
    # writes: AWS, versitygw, MinIO...). The service also refuses, by a HEAD first, to
    # start an upload onto a key that exists, for servers that ignore the header.
    s3_conditional_writes: bool = True

    # --- uploads
    max_upload_bytes: int = Field(default=50 * GiB, ge=1)
    part_size_bytes: int = Field(default=16 * MiB, ge=5 * MiB, le=5 * GiB)
    max_parts_per_request: int = Field(default=100, ge=1, le=1000)
    part_url_ttl_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    download_url_ttl_s: int = Field(default=900, ge=60, le=900)

    # --- who is calling: retailers through intake's /v1/me, forces by token
    intake_url: str = "http://127.0.0.1:8001"
    identity_cache_ttl_s: float = Field(default=30.0, ge=0)
    identity_cache_size: int = Field(default=10_000, ge=1)
    identity_timeout_s: float = Field(default=5.0, gt=0)

    # --- verification (background worker inside the process)
    verify_concurrency: int = Field(default=2, ge=0, le=32)  # 0: no worker in this process
    verify_poll_interval_s: float = Field(default=2.0, gt=0)
    verify_lease_s: float = Field(default=120.0, ge=5)
    verify_chunk_bytes: int = Field(default=8 * MiB, ge=64 * 1024, le=64 * MiB)
    verify_buffers: int = Field(default=4, ge=2, le=16)
    verify_max_attempts: int = Field(default=10, ge=1)
    # FFmpeg parses untrusted input in a child process with these limits.
    media_probe_timeout_s: float = Field(default=60.0, gt=0)
    media_derive_timeout_s: float = Field(default=1800.0, gt=0)
    media_memory_limit_mb: int = Field(default=4096, ge=256)
    media_thumbnails: int = Field(default=6, ge=1, le=50)
    media_max_stills: int = Field(default=10, ge=0, le=50)

    # --- retention sweep (also `python -m shopwatch.evidence.sweep`)
    sweep_interval_s: float = Field(default=3600.0, ge=0)  # 0: no periodic sweep
    rejected_retention_days: int = Field(default=30, ge=1)
    abandoned_upload_days: int = Field(default=7, ge=1)
    # JSON `{offence_type: {outcome: days | null}}`; empty: the built-in default policy.
    retention_policy_json: str = ""

    def upload_limits(self) -> UploadLimits:
        return UploadLimits(
            max_size=self.max_upload_bytes,
            preferred_part_size=self.part_size_bytes,
            max_parts_per_request=self.max_parts_per_request,
        )
