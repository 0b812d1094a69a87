from __future__ import annotations

import hashlib
import io
import random
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopwatch.evidence.hashing import (
    read_chunks,
    sha256_async_chunks,
    sha256_chunks,
    sha256_reader,
)
from shopwatch.evidence.media_types import SNIFF_BYTES


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@settings(max_examples=100)
@given(st.binary(max_size=50_000), st.integers(min_value=1, max_value=9_000))
def test_equals_hashlib_for_any_chunking(data: bytes, chunk: int) -> None:
    digest = sha256_chunks(chunked(data, chunk))
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)
    assert digest.head == data[:SNIFF_BYTES]


def test_equals_hashlib_on_random_megabytes() -> None:
    data = random.Random(7).randbytes(5 * 1024 * 1024 + 123)
    digest = sha256_reader(io.BytesIO(data), chunk_size=64 * 1024)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.size == len(data)


def test_accepts_bytearray_and_memoryview_chunks() -> None:
    parts: list[bytes | bytearray | memoryview] = [
        bytearray(b"abc"),
        memoryview(b"defg"),
        b"",
        b"h",
    ]
    assert sha256_chunks(parts).sha256 == hashlib.sha256(b"abcdefgh").hexdigest()


def test_empty_stream() -> None:
    digest = sha256_chunks([])
    assert digest.sha256 == hashlib.sha256(b"").hexdigest()
    assert (digest.size, digest.head) == (0, b"")


def test_progress_is_reported_and_ends_at_the_total() -> None:
    seen: list[int] = []
    data = bytes(10_000)
    sha256_chunks(chunked(data, 1000), on_progress=seen.append, progress_every=2500)
    assert seen == [3000, 6000, 9000, 10_000]
    assert seen == sorted(seen)


def test_progress_every_chunk_by_default_for_large_chunks() -> None:
    seen: list[int] = []
    sha256_chunks(chunked(bytes(3 * 1024 * 1024), 1024 * 1024), on_progress=seen.append)
    assert seen == [1024 * 1024, 2 * 1024 * 1024, 3 * 1024 * 1024]


def test_constant_memory_over_a_long_generated_stream() -> None:
    # 256 MiB flows through without being held: only the digest and head survive.
    block = bytes(range(256)) * 4096  # 1 MiB
    reference = hashlib.sha256()

    def stream() -> Iterator[bytes]:
        for _ in range(256):
            reference.update(block)
            yield block

    digest = sha256_chunks(stream(), head_bytes=16)
    assert digest.sha256 == reference.hexdigest()
    assert digest.size == 256 * 1024 * 1024
    assert len(digest.head) == 16


async def test_async_stream() -> None:
    data = random.Random(3).randbytes(100_000)

    async def body() -> AsyncIterator[bytes]:
        for part in chunked(data, 4096):
            yield part

    digest = await sha256_async_chunks(body())
    assert digest.sha256 == hashlib.sha256(data).hexdigest()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        list(read_chunks(io.BytesIO(b"x"), 0))
    with pytest.raises(ValueError, match="progress_every"):
        sha256_chunks([b"x"], progress_every=0)
