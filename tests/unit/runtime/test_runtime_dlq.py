import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from shopwatch.runtime.dlq import (
    H_ATTEMPTS,
    H_CONSUMER_GROUP,
    H_ERROR_MESSAGE,
    H_ERROR_TYPE,
    H_HEADERS_DROPPED,
    H_KEY_TRUNCATED,
    H_ORIGINAL_OFFSET,
    H_ORIGINAL_PARTITION,
    H_ORIGINAL_SHA256,
    H_ORIGINAL_TOPIC,
    H_REASON,
    H_VALUE_TRUNCATED,
    MAX_ERROR_MESSAGE,
    MAX_LETTER_BYTES,
    DeadLetterRateLimiter,
    build_dead_letter,
    dlq_topic,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_dlq_topic_is_topic_plus_suffix() -> None:
    assert dlq_topic("t-1.reports.submitted.v1") == "t-1.reports.submitted.v1.dlq"


def test_limiter_allows_n_in_window_then_refuses() -> None:
    clock = FakeClock()
    limiter = DeadLetterRateLimiter(3, 60, clock=clock)
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, True]
    assert limiter.try_acquire() is False
    assert limiter.in_window == 3


def test_limiter_window_slides() -> None:
    clock = FakeClock()
    limiter = DeadLetterRateLimiter(2, 10, clock=clock)
    assert limiter.try_acquire()
    clock.now += 6
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    clock.now += 4  # the first one is now exactly 10s old: out of the window
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    clock.now += 100
    assert limiter.in_window == 0


def test_refused_attempts_do_not_count() -> None:
    clock = FakeClock()
    limiter = DeadLetterRateLimiter(1, 10, clock=clock)
    assert limiter.try_acquire()
    for _ in range(5):
        assert not limiter.try_acquire()
    clock.now += 10
    assert limiter.try_acquire()


def test_zero_limit_never_allows() -> None:
    assert not DeadLetterRateLimiter(0, 1, clock=FakeClock()).try_acquire()


@pytest.mark.parametrize(("limit", "window"), [(-1, 1), (1, 0)])
def test_limiter_rejects_nonsense(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="max_per_window"):
        DeadLetterRateLimiter(limit, window)


def test_dead_letter_keeps_original_and_says_why() -> None:
    error = ValueError("field 'payload.store_id' missing " + "x" * 5000)
    letter = build_dead_letter(
        topic="reports.submitted.v1",
        partition=2,
        offset=41,
        key=b"R-1",
        value=b"\x00not json\xff",
        original_headers={"correlation_id": "c-1", "content-type": "application/json"},
        group="routing",
        reason="poison",
        error=error,
        attempts=1,
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert letter.topic == "reports.submitted.v1.dlq"
    assert letter.value == b"\x00not json\xff"
    assert letter.key == b"R-1"
    headers = letter.headers
    assert headers["correlation_id"] == "c-1"
    assert headers[H_REASON] == "poison"
    assert headers[H_ERROR_TYPE] == "builtins.ValueError"
    assert headers[H_ERROR_MESSAGE].startswith("field 'payload.store_id' missing")
    assert len(headers[H_ERROR_MESSAGE]) == MAX_ERROR_MESSAGE
    assert headers[H_ORIGINAL_TOPIC] == "reports.submitted.v1"
    assert headers[H_ORIGINAL_PARTITION] == "2"
    assert headers[H_ORIGINAL_OFFSET] == "41"
    assert headers[H_CONSUMER_GROUP] == "routing"
    assert headers[H_ATTEMPTS] == "1"


def _letter(key: bytes | None, value: bytes, headers: dict[str, str] | None = None) -> Any:
    return build_dead_letter(
        topic="reports.submitted.v1",
        partition=0,
        offset=9,
        key=key,
        value=value,
        original_headers=headers or {},
        group="routing",
        reason="poison",
        error=ValueError("x" * 5000),
        attempts=1,
    )


def _size(letter: Any) -> int:
    headers = sum(len(k.encode()) + len(v.encode()) for k, v in letter.headers.items())
    return len(letter.value) + len(letter.key or b"") + headers


def test_a_letter_at_the_size_limit_is_cut_and_says_so() -> None:
    """A poison message as large as the broker takes made a letter (original + headers)
    no producer could send: it was redelivered for ever and blocked its partition."""
    value = b"{" + b"x" * 1_048_000
    letter = _letter(b"R-1", value)
    assert _size(letter) <= MAX_LETTER_BYTES
    assert value.startswith(letter.value) and len(letter.value) > 1_000_000 - 10_000
    assert letter.headers[H_VALUE_TRUNCATED] == str(len(value))
    assert letter.headers[H_ORIGINAL_SHA256] == hashlib.sha256(value).hexdigest()
    small = _letter(b"R-1", b"{not json")
    assert small.value == b"{not json" and H_VALUE_TRUNCATED not in small.headers


def test_huge_original_headers_and_key_are_not_carried_whole() -> None:
    letter = _letter(b"k" * 500_000, b"v", {"h": "y" * 200_000, "correlation_id": "c"})
    assert _size(letter) <= MAX_LETTER_BYTES
    assert letter.headers[H_HEADERS_DROPPED] == str(200_001 + len("correlation_id") + 1)
    assert "h" not in letter.headers and letter.headers[H_REASON] == "poison"
    assert letter.headers[H_KEY_TRUNCATED] == "500000"
    assert letter.key is not None and len(letter.key) < 500_000
