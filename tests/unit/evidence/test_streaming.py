"""The overlapped S3 read + SHA-256: same digest as hashlib, bounded buffers, stops."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from shopwatch.evidence.streaming import Cancelled, hash_stream


class Reader:
    def __init__(self, data: bytes, step: int = 100_000, fail_after: int | None = None) -> None:
        self.stream = io.BytesIO(data)
        self.step = step
        self.fail_after = fail_after
        self.read = 0

    def readinto(self, buffer: memoryview) -> int:
        if self.fail_after is not None and self.read >= self.fail_after:
            raise ConnectionResetError("peer went away")
        got = self.stream.readinto(buffer[: self.step])
        self.read += got
        return got


@pytest.mark.parametrize("size", [0, 1, 8191, 8192, 65_536, 1_000_003])
@pytest.mark.parametrize("chunk", [4096, 65_536])
def test_digest_size_and_head_match_hashlib(size: int, chunk: int) -> None:
    data = os.urandom(size)
    digest = hash_stream(Reader(data, step=3000), chunk_bytes=chunk, buffers=3)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == size
    assert digest.head == data[:8192]


def test_progress_is_reported() -> None:
    seen: list[int] = []
    hash_stream(Reader(b"x" * 100_000), chunk_bytes=30_000, on_progress=seen.append)
    assert seen == [30_000, 60_000, 90_000, 100_000]


def test_a_read_error_propagates() -> None:
    with pytest.raises(ConnectionResetError):
        hash_stream(Reader(os.urandom(500_000), fail_after=200_000), chunk_bytes=50_000)


def test_should_stop_cancels() -> None:
    with pytest.raises(Cancelled):
        hash_stream(Reader(os.urandom(500_000)), chunk_bytes=50_000, should_stop=lambda: True)


def test_needs_two_buffers() -> None:
    with pytest.raises(ValueError):
        hash_stream(Reader(b""), buffers=1)
