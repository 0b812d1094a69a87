import io
import json
import logging
from collections.abc import Iterator

import pytest

from shopwatch.runtime.logging import (
    REDACTED,
    Redactor,
    configure_logging,
    current_log_context,
    log_context,
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("routing", "DEBUG", secrets=["s3cr3t-value-xyz"], stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_shape(captured: io.StringIO) -> None:
    logging.getLogger("shopwatch.test").info("case %s routed", "C-1")
    logging.getLogger("shopwatch.test").warning("second")
    [first, second] = lines(captured)
    assert first["level"] == "INFO"
    assert first["service"] == "routing"
    assert first["logger"] == "shopwatch.test"
    assert first["message"] == "case C-1 routed"
    assert isinstance(first["ts"], str) and first["ts"].endswith("+00:00")
    assert second["level"] == "WARNING"


def test_context_ids_are_bound_and_nested(captured: io.StringIO) -> None:
    log = logging.getLogger("shopwatch.test")
    with log_context(report_id="R-1", topic="reports.submitted.v1"):
        log.info("outer")
        with log_context(case_id="C-9", event_id="E-3"):
            log.info("inner")
        log.info("outer again")
    log.info("none")
    outer, inner, outer_again, none = lines(captured)
    assert outer["report_id"] == "R-1" and "case_id" not in outer
    assert inner["report_id"] == "R-1"
    assert inner["case_id"] == "C-9"
    assert inner["event_id"] == "E-3"
    assert inner["topic"] == "reports.submitted.v1"
    assert "case_id" not in outer_again
    assert "report_id" not in none
    assert current_log_context() == {}


def test_extra_fields_and_exceptions(captured: io.StringIO) -> None:
    log = logging.getLogger("shopwatch.test")
    try:
        raise RuntimeError("boom password=abc123xyz")
    except RuntimeError:
        log.exception("failed", extra={"attempt": 3})
    [entry] = lines(captured)
    assert entry["attempt"] == 3
    assert "RuntimeError" in str(entry["exc"])
    assert "abc123xyz" not in json.dumps(entry)


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
        ("connecting to mongodb://svc:pa55w0rd@db:27017/x", "pa55w0rd"),
        ("login password=hunter22 user=bob", "hunter22"),
        ("{'api_key': 'sk_live_1234567890'}", "sk_live_1234567890"),
        ('{"secret_key": "AKIAxyzSECRET"}', "AKIAxyzSECRET"),
        ("GET /x?token=abcdef123456&page=2", "abcdef123456"),
        ("s3 secret is s3cr3t-value-xyz, oops", "s3cr3t-value-xyz"),
    ],
)
def test_redaction_of_secret_looking_values(captured: io.StringIO, text: str, leak: str) -> None:
    logging.getLogger("shopwatch.test").info(text)
    output = captured.getvalue()
    assert leak not in output
    assert REDACTED in output


def test_redaction_of_args_and_extras(captured: io.StringIO) -> None:
    logging.getLogger("x").info(
        "headers %s",
        {"Authorization": "Bearer abcdefghijkl"},
        extra={"url": "https://u:pw12345@h/"},
    )
    output = captured.getvalue()
    assert "abcdefghijkl" not in output
    assert "pw12345" not in output


def test_ordinary_text_is_left_alone() -> None:
    redactor = Redactor()
    text = "case C-1 routed to durham with priority high; token bucket refilled"
    assert redactor.redact(text) == text


def test_library_loggers_go_through_the_same_handler(captured: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("from uvicorn")
    [entry] = lines(captured)
    assert entry["logger"] == "uvicorn.error"
