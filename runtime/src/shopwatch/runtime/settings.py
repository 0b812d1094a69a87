"""Settings every service shares, read from `SHOPWATCH_*` environment variables.

A service subclasses `RuntimeSettings` to add its own fields and keeps the same prefix,
so one environment file (the local stack writes `.cache/local/stack.env`) configures all
of them. Anything that can carry a password is a `SecretStr`: pydantic masks it in
`repr()` and in `model_dump()`, so printing or logging a settings object never leaks it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopwatch.schemas.topics import all_topics, with_prefix

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class RuntimeSettings(BaseSettings):
    """Connection and behaviour settings of one service process."""

    model_config = SettingsConfigDict(
        env_prefix="SHOPWATCH_",
        extra="ignore",
        # Services are configured by their environment only; no implicit .env files, so
        # a stray file in the working directory can never point a service elsewhere.
        env_file=None,
    )

    # --- identity and HTTP (health, metrics, and the service's own API if it has one)
    service_name: str = Field(default="shopwatch", pattern=r"^[a-z][a-z0-9-]{1,39}$")
    service_host: str = "127.0.0.1"
    service_port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "INFO"

    # --- Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Prepended to every logical topic name; tests use a random prefix to stay isolated.
    topic_prefix: str = ""

    # --- MongoDB (FerretDB locally). The URL may carry a password, hence SecretStr.
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017")
    # Each service owns one database; by default it is named after the service.
    mongo_database: str | None = None

    # --- S3
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_secure: bool = False
    s3_region: str = "us-east-1"

    # --- SMTP
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)

    # --- outbox relay
    # Fallback only: a service nudges the relay right after each write, so the poll
    # interval bounds the delay of events whose nudge was lost (e.g. after a restart).
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    # How often the relay looks for entries its hints missed (a scan on FerretDB, which
    # stalls the requests beside it: routing's p99 at 20 reports/s was 96 ms sweeping
    # every 1 s, 65 ms every 30 s, 46 ms never). The outbox gauges are as fresh as the
    # last sweep, so the 60 s outbox-age alert fires within 90 s.
    outbox_sweep_interval_s: float = Field(default=30.0, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)

    # --- idempotent consumers
    consumer_max_attempts: int = Field(default=5, ge=1, le=100)
    consumer_backoff_initial_s: float = Field(default=0.2, ge=0)
    consumer_backoff_max_s: float = Field(default=5.0, ge=0)
    # More than `dlq_max_per_window` dead letters within `dlq_window_s` stops the
    # consumer: a burst of failures is an outage or a bug, not a batch of bad messages.
    dlq_max_per_window: int = Field(default=10, ge=0)
    dlq_window_s: float = Field(default=60.0, gt=0)
    # Records of processed events are needed while Kafka can still deliver the event again,
    # that is for the longest retention of any topic, plus a day's margin; older ones are
    # deleted every `processed_events_prune_interval_s` (the collection grows with every
    # event otherwise).
    processed_events_keep_days: float = Field(
        default_factory=lambda: _longest_retention_days() + 1, gt=0, le=3650
    )
    processed_events_prune_interval_s: float = Field(default=3600.0, gt=0)

    # --- readiness
    health_check_timeout_s: float = Field(default=2.0, gt=0)

    def topic(self, name: str) -> str:
        """The physical topic for a logical name, with this deployment's prefix."""
        return with_prefix(name, self.topic_prefix)

    @property
    def database_name(self) -> str:
        return self.mongo_database or self.service_name.replace("-", "_")

    def mongo_url_for_logs(self) -> str:
        """The MongoDB URL without its password, for start-up logs and error messages."""
        return redact_url(self.mongo_url.get_secret_value())

    def secret_values(self) -> list[str]:
        """Every secret this object holds, so logging can redact them wherever they appear."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
                # The password alone also shows up in driver errors, without the URL.
                if match := _URL_PASSWORD.search(value.get_secret_value()):
                    values.append(match.group("password"))
        return values


# `scheme://user:password@`: a regex, not urlsplit, because MongoDB URLs may list several
# comma-separated hosts, which urlsplit cannot parse.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@/\s]+)@", re.I)


def redact_url(url: str) -> str:
    """`scheme://user:pass@host/...` becomes `scheme://user:***@host/...`."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


def _longest_retention_days() -> float:
    return max(t.retention.total_seconds() for t in all_topics()) / 86_400
