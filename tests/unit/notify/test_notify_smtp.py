"""Which SMTP failures are retried and which are final; what a sent message looks like."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from aiosmtplib.errors import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPConnectTimeoutError,
    SMTPDataError,
    SMTPHeloError,
    SMTPNotSupported,
    SMTPReadTimeoutError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPSenderRefused,
    SMTPServerDisconnected,
)

from shopwatch.notify.adapters.smtp import OutgoingEmail, build_message, classify_smtp_error


def refused(*codes: int) -> SMTPRecipientsRefused:
    return SMTPRecipientsRefused(
        [
            SMTPRecipientRefused(code, "mailbox said no", f"r{i}@x.example")
            for i, code in enumerate(codes)
        ]
    )


@pytest.mark.parametrize(
    ("error", "transient", "reason"),
    [
        (ConnectionRefusedError(111, "Connection refused"), True, "connection"),
        (SMTPConnectError("Error connecting to 127.0.0.1 on port 1"), True, "connection"),
        (SMTPConnectTimeoutError("Timed out connecting"), True, "timeout"),
        (SMTPReadTimeoutError("Timed out waiting for server response"), True, "timeout"),
        (TimeoutError(), True, "timeout"),
        (SMTPServerDisconnected("Connection lost"), True, "connection"),
        (SMTPConnectResponseError(554, "no SMTP service here"), True, "connection"),
        (refused(450), True, "recipient_deferred"),
        (refused(550, 451), True, "recipient_deferred"),
        (refused(550), False, "recipient_refused"),
        (refused(553, 550), False, "recipient_refused"),
        (SMTPRecipientRefused(550, "no such user", "a@x.example"), False, "recipient_refused"),
        (SMTPRecipientRefused(452, "mailbox full", "a@x.example"), True, "recipient_deferred"),
        (SMTPDataError(451, "try again later"), True, "message_deferred"),
        (SMTPDataError(554, "message rejected as spam"), False, "message_rejected"),
        (SMTPHeloError(421, "service not available"), True, "smtp_4xx"),
        (SMTPHeloError(501, "bad helo"), False, "smtp_5xx"),
        # Our own configuration: retried (never burns the recipients' mail).
        (SMTPAuthenticationError(535, "authentication failed"), True, "auth_failed"),
        (
            SMTPSenderRefused(550, "sender not allowed", "n@shopwatch.example"),
            True,
            "sender_refused",
        ),
        (SMTPNotSupported("STARTTLS extension not supported"), True, "not_supported"),
    ],
)
def test_classification(error: BaseException, transient: bool, reason: str) -> None:
    failure = classify_smtp_error(error)
    assert failure is not None
    assert (failure.transient, failure.reason) == (transient, reason)
    assert failure.detail


def test_refusal_detail_names_the_server_reply() -> None:
    failure = classify_smtp_error(refused(550))
    assert failure is not None and "550 mailbox said no" in failure.detail


def test_other_errors_are_not_smtp_failures() -> None:
    assert classify_smtp_error(ValueError("a bug")) is None
    assert classify_smtp_error(KeyError("template")) is None


def test_built_message_has_both_bodies_and_the_given_message_id() -> None:
    email = OutgoingEmail(
        message_id="<abc123@shopwatch.example>",
        to="alex@northmart.example",
        subject="Report SW-1: crime recorded\r\nBcc: someone@evil.example",
        text="Plain words £42",
        html="<p>Plain words &pound;42</p>",
        template="crime_recorded",
        created_at=datetime(2026, 11, 3, 9, 30, tzinfo=UTC),
        report_id="rep-1",
    )
    raw = build_message(email, "Shopwatch <notifications@shopwatch.example>").as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == "<abc123@shopwatch.example>"
    assert parsed["To"] == "alex@northmart.example"
    assert parsed["Bcc"] is None  # a newline in a subject never becomes a header
    assert parsed["Subject"] == "Report SW-1: crime recorded Bcc: someone@evil.example"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Shopwatch-Template"] == "crime_recorded"
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and plain.get_content().strip() == "Plain words £42"
    assert html is not None and "&pound;42" in html.get_content()
