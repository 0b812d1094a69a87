"""Notify's settings: the shared runtime ones plus SMTP, links and the timings of sending."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from shopwatch.runtime.settings import RuntimeSettings


class NotifySettings(RuntimeSettings):
    service_name: str = "notify"
    service_port: int = 8005

    # --- SMTP (host and port come from RuntimeSettings)
    smtp_username: str | None = None
    smtp_password: SecretStr = SecretStr("")
    # STARTTLS on a plain connection (port 587); `smtp_tls` is TLS from the first byte
    # (port 465). With either, the server's certificate is checked.
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_s: float = Field(default=20.0, gt=0)
    mail_from: str = "Shopwatch <notifications@shopwatch.example>"
    # The right-hand side of every Message-ID; defaults to the domain of `mail_from`.
    message_id_domain: str | None = None

    # --- links in the emails
    # Where the retailer follows a report (intake's API): {public_base_url}/v1/reports/{id}
    public_base_url: str = "http://127.0.0.1:8001"
    # The evidence API that takes uploads: POST {evidence_base_url}/v1/reports/{id}/evidence
    evidence_base_url: str = "http://127.0.0.1:8002"

    # --- exactly once per (event, recipient)
    # How long one attempt may take before another process may assume it died and send
    # the same message again (same Message-ID). Must exceed smtp_timeout_s comfortably.
    send_timeout_s: float = Field(default=120.0, gt=0)
    # The sweeper resends pending messages whose sender died or whose retries ran out.
    sweep_interval_s: float = Field(default=15.0, gt=0)
    sweep_retry_initial_s: float = Field(default=30.0, gt=0)
    sweep_retry_max_s: float = Field(default=900.0, gt=0)

    # --- a status change for a report notify has not seen yet (its reports.submitted
    # event may still be on the way): retried this many times, then recorded as failed.
    unknown_report_attempts: int = Field(default=5, ge=1, le=50)

    # --- daily digest: how often the service checks for complete days to summarise
    digest_interval_s: float = Field(default=900.0, gt=0)
    digest_enabled: bool = True

    # Notify waits out SMTP outages in the consumer (TransientError), so it retries for
    # longer than the runtime's default before handing over to the sweeper.
    consumer_max_attempts: int = Field(default=8, ge=1, le=100)
    consumer_backoff_max_s: float = Field(default=30.0, ge=0)

    @field_validator("mail_from")
    @classmethod
    def _has_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("mail_from must contain an email address, e.g. 'Name <a@b.example>'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("choose one of smtp_tls (implicit TLS, port 465) or smtp_starttls")
        if self.unknown_report_attempts >= self.consumer_max_attempts:
            # Otherwise the consumer dead-letters the event before notify records why.
            raise ValueError("unknown_report_attempts must be less than consumer_max_attempts")
        if self.send_timeout_s <= self.smtp_timeout_s:
            raise ValueError("send_timeout_s must be longer than smtp_timeout_s")
        return self

    @property
    def from_address(self) -> str:
        """The bare address of `mail_from` (the SMTP envelope sender)."""
        return parseaddr(self.mail_from)[1]

    @property
    def id_domain(self) -> str:
        return self.message_id_domain or self.from_address.rpartition("@")[2]
