"""Structured JSON logs: one object per line on stdout, carrying the ids of the work at hand.

Why JSON lines: the log collector parses them without regexes, and an operator can
`grep '"case_id": "…"'` across every service. The ids (report, case, event, topic) come
from a context variable bound with `log_context(...)`, so the code that logs does not
have to pass them along by hand, and concurrent tasks each keep their own.

Every record goes through `RedactingFilter` before it is written: log lines end up in
places with weaker access control than the data, so secrets must never reach them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

# The ids most lines should carry; others may be bound too (correlation_id, evidence_id…).
CONTEXT_KEYS = ("report_id", "case_id", "event_id", "topic")

# An immutable empty default: the value is shared by every context that never bound ids.
_context: ContextVar[Mapping[str, str]] = ContextVar(
    "shopwatch_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**ids: object) -> Iterator[None]:
    """Bind ids to every log line written inside the block (nested blocks add to them)."""
    merged = {**_context.get(), **{k: str(v) for k, v in ids.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def current_log_context() -> Mapping[str, str]:
    return _context.get()


REDACTED = "[REDACTED]"

# Names whose values are secrets wherever they appear as `name=value`, `name: value` or
# `"name": "value"` (query strings, headers, repr of dicts, JSON bodies).
_SENSITIVE_KEYS = (
    r"password|passwd|pwd|secret|secret[_-]?key|access[_-]?key|api[_-]?key|apikey|"
    r"token|access[_-]?token|refresh[_-]?token|client[_-]?secret|authorization|"
    r"sasl[_-]?password|x-api-key"
)
_DEFAULT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer <token> (and Basic), in headers or free text.
    (re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.I), rf"\1 {REDACTED}"),
    # scheme://user:password@host
    (
        re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@", re.I),
        rf"\1{REDACTED}@",
    ),
    # "password": "value"  /  'api_key': 'value'
    (
        re.compile(rf"([\"']?(?:{_SENSITIVE_KEYS})[\"']?\s*:\s*)([\"'])(?:(?!\2).)*\2", re.I),
        rf"\1\2{REDACTED}\2",
    ),
    # password=value  /  api_key: value  (up to whitespace, comma, quote, & or ;)
    (
        re.compile(rf"\b((?:{_SENSITIVE_KEYS})\s*[=:]\s*)(?![\"'\s])[^\s,;&\"']+", re.I),
        rf"\1{REDACTED}",
    ),
    # Private keys pasted into a message.
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
)


class Redactor:
    """Replaces anything that looks like a secret, plus exact known secret values."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        self._patterns = list(_DEFAULT_PATTERNS)
        self._known: set[str] = set()
        self.add_known_secrets(known_secrets)

    def add_known_secrets(self, secrets: Iterable[str]) -> None:
        # Very short values would redact ordinary words; a secret that short is not one.
        self._known.update(s for s in secrets if len(s) >= 4)

    def add_pattern(self, pattern: re.Pattern[str], replacement: str = REDACTED) -> None:
        self._patterns.append((pattern, replacement))

    def redact(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._known, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in self._patterns:
            text = pattern.sub(replacement, text)
        return text


# Attributes every LogRecord has; anything else on a record came from `extra=`.
# uvicorn's `color_message` (the message again, with ANSI colours) is noise in JSON.
_RECORD_ATTRS = vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
_STANDARD_ATTRS = frozenset(_RECORD_ATTRS) | {"message", "asctime", "taskName", "color_message"}


class RedactingFilter(logging.Filter):
    """Rewrites the record in place: the message, extra fields and exception text."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        # The traceback is now in exc_text, redacted; drop the live exception so no
        # formatter renders it again unredacted.
        record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, self._redact_value(value))
        return True

    def _redact_value(self, value: object) -> object:
        if isinstance(value, str):
            return self.redactor.redact(value)
        if isinstance(value, Mapping):
            return {k: self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in value]
        return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, service, logger, message, ids, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current_log_context())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(
    service: str,
    level: str = "INFO",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> Redactor:
    """Send every logger's output (ours, FastStream's, uvicorn's) as JSON to stdout.

    Returns the redactor so a service can register more secret values or patterns.
    """
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter(service))

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that install their own handlers would print a second, unstructured line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
    # aiokafka is chatty at INFO (every rebalance and metadata refresh).
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    return redactor
