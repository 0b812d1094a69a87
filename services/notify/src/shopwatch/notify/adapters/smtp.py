"""Sending one email with aiosmtplib, and telling a transient failure from a permanent one.

Following zulip's email senders: only failures KNOWN to be temporary are retried
(no connection, a timeout, a 4xx reply); a 5xx reply about the recipient or the message
is final for that recipient. Failures that are about *our* side (authentication,
the sender address, STARTTLS) are also treated as temporary even when the server
answers 5xx: they are configuration mistakes an operator fixes, and failing every
recipient for them would throw the mail away.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from aiosmtplib.errors import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPDataError,
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from shopwatch.notify.config import NotifySettings


@dataclass(frozen=True)
class OutgoingEmail:
    """A rendered email, ready to go (and exactly what is stored while it is pending)."""

    message_id: str
    to: str
    subject: str
    text: str
    html: str
    template: str
    created_at: datetime
    report_id: str | None = None


@dataclass(frozen=True)
class SmtpFailure:
    transient: bool
    reason: str  # a short label for metrics and records
    detail: str  # what the server said


class SendFailed(Exception):
    def __init__(self, failure: SmtpFailure) -> None:
        super().__init__(f"{failure.reason}: {failure.detail}")
        self.failure = failure


def _by_code(code: int, reason_4xx: str, reason_5xx: str, detail: str) -> SmtpFailure:
    if 400 <= code < 500:
        return SmtpFailure(True, reason_4xx, detail)
    if 500 <= code < 600:
        return SmtpFailure(False, reason_5xx, detail)
    return SmtpFailure(True, "smtp_unexpected_reply", detail)


def classify_smtp_error(exc: BaseException) -> SmtpFailure | None:
    """How to treat an exception from sending; None when it is not an SMTP/network one."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, SMTPRecipientsRefused):
        refusals = exc.recipients
        if any(400 <= r.code < 500 for r in refusals) or not refusals:
            return SmtpFailure(True, "recipient_deferred", detail)
        return SmtpFailure(
            False, "recipient_refused", "; ".join(f"{r.code} {r.message}" for r in refusals)
        )
    if isinstance(exc, SMTPRecipientRefused):
        return _by_code(
            exc.code, "recipient_deferred", "recipient_refused", f"{exc.code} {exc.message}"
        )
    if isinstance(exc, SMTPConnectResponseError):
        # The server greeted us with an error: it is not taking mail right now.
        return SmtpFailure(True, "connection", detail)
    if isinstance(exc, SMTPAuthenticationError):
        return SmtpFailure(True, "auth_failed", detail)
    if isinstance(exc, SMTPSenderRefused):
        return SmtpFailure(True, "sender_refused", f"{exc.code} {exc.message}")
    if isinstance(exc, SMTPNotSupported):
        return SmtpFailure(True, "not_supported", detail)
    if isinstance(exc, SMTPDataError):
        return _by_code(
            exc.code, "message_deferred", "message_rejected", f"{exc.code} {exc.message}"
        )
    if isinstance(exc, SMTPResponseException):
        return _by_code(exc.code, "smtp_4xx", "smtp_5xx", f"{exc.code} {exc.message}")
    if isinstance(exc, SMTPTimeoutError | TimeoutError):
        return SmtpFailure(True, "timeout", detail)
    if isinstance(exc, SMTPConnectError | SMTPServerDisconnected | ConnectionError | OSError):
        return SmtpFailure(True, "connection", detail)
    if isinstance(exc, SMTPException):
        return SmtpFailure(True, "smtp_error", detail)
    return None


def build_message(email: OutgoingEmail, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = email.to
    # A header is one line: a newline in a store name must not start a new header.
    message["Subject"] = " ".join(email.subject.split())
    message["Date"] = format_datetime(email.created_at)
    message["Message-ID"] = email.message_id
    # RFC 3834: tells auto-responders (out-of-office) not to answer a robot.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Shopwatch-Template"] = email.template
    if email.report_id:
        message["X-Shopwatch-Report-Id"] = email.report_id
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


class SmtpMailer:
    """Sends one message per connection: simple, and one refusal never touches another."""

    def __init__(self, settings: NotifySettings, tls_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.tls_context = tls_context

    async def send(self, email: OutgoingEmail) -> None:
        """Raises SendFailed with the classification, or returns once the server took it."""
        s = self.settings
        message = build_message(email, s.mail_from)
        password = s.smtp_password.get_secret_value()
        try:
            await aiosmtplib.send(
                message,
                sender=s.from_address,
                recipients=[email.to],
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=password if s.smtp_username else None,
                use_tls=s.smtp_tls,
                start_tls=s.smtp_starttls,
                tls_context=self.tls_context,
                timeout=s.smtp_timeout_s,
            )
        except Exception as exc:
            failure = classify_smtp_error(exc)
            if failure is None:
                raise
            raise SendFailed(failure) from exc
