import pytest

from shopwatch.intake.idempotency import InvalidIdempotencyKey, fingerprint, validate_key
from shopwatch.intake.rate_limit import RateLimiter
from shopwatch.intake.references import format_reference
from tests.unit.intake.fake_clock import FakeClock


def test_bucket_allows_a_burst_then_asks_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_second=2, burst=3, clock=clock)
    assert [limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("k")
    assert wait == pytest.approx(0.5)
    assert RateLimiter.retry_after_header(wait) == "1"
    clock.now = 0.5
    assert limiter.acquire("k") == 0.0


def test_buckets_are_per_key() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=1, clock=FakeClock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0
    assert limiter.acquire("a") > 0


def test_bucket_count_is_bounded() -> None:
    limiter = RateLimiter(rate_per_second=1, burst=1, clock=FakeClock(), max_buckets=10)
    for i in range(100):
        limiter.acquire(str(i))
    assert len(limiter._buckets) <= 10


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


@pytest.mark.parametrize("bad", ["", " x", "x\n", "a" * 129])
def test_bad_idempotency_keys(bad: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        validate_key(bad)


def test_reference_format() -> None:
    assert format_reference("20261129", 42) == "SW-20261129-000042"
    with pytest.raises(ValueError, match="starts at 1"):
        format_reference("20261129", 0)


def test_cursor_round_trip_and_garbage() -> None:
    from datetime import UTC, datetime

    from shopwatch.intake.pagination import Cursor, InvalidCursor, decode_cursor, encode_cursor

    cursor = Cursor(created_at=datetime(2026, 11, 29, 7, 0, tzinfo=UTC), report_id="r-1")
    assert decode_cursor(encode_cursor(cursor)) == cursor
    for bad in ["", "!!!", "bm90IGpzb24", "x" * 300, encode_cursor(cursor)[:-3]]:
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)
