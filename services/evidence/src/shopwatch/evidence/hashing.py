"""SHA-256 over a stream of chunks, in constant memory.

The verifier feeds this the body of an S3 GET; the CLI feeds it a file. Besides the
digest it keeps the first ``head_bytes`` so content sniffing needs no second read.
``hashlib`` releases the GIL on large updates, so hashing in a worker thread does not
stall the event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from shopwatch.evidence.media_types import SNIFF_BYTES

DEFAULT_CHUNK_SIZE = 1024 * 1024

ProgressCallback = Callable[[int], None]
"""Called with the total number of bytes hashed so far."""


class SupportsRead(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class StreamDigest:
    sha256: str  # lowercase hex
    size: int
    head: bytes  # the first bytes of the stream, for ``media_types.sniff``


class _Hasher:
    def __init__(
        self, on_progress: ProgressCallback | None, progress_every: int, head_bytes: int
    ) -> None:
        if progress_every < 1:
            raise ValueError("progress_every must be positive")
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = bytearray()
        self._head_bytes = head_bytes
        self._on_progress = on_progress
        self._progress_every = progress_every
        self._reported = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        if not chunk:
            return
        view = memoryview(chunk).cast("B")
        self._hash.update(view)
        if len(self._head) < self._head_bytes:
            self._head += view[: self._head_bytes - len(self._head)]
        self._size += len(view)
        if self._on_progress is not None and self._size - self._reported >= self._progress_every:
            self._reported = self._size
            self._on_progress(self._size)

    def result(self) -> StreamDigest:
        if self._on_progress is not None and self._reported != self._size:
            self._reported = self._size
            self._on_progress(self._size)
        return StreamDigest(self._hash.hexdigest(), self._size, bytes(self._head))


def sha256_chunks(
    chunks: Iterable[bytes | bytearray | memoryview],
    *,
    on_progress: ProgressCallback | None = None,
    progress_every: int = DEFAULT_CHUNK_SIZE,
    head_bytes: int = SNIFF_BYTES,
) -> StreamDigest:
    """Hash an iterator of chunks (e.g. ``response.stream(1 MiB)``) without holding them.

    ``on_progress(total_bytes)`` fires whenever another ``progress_every`` bytes have
    been hashed, and once more at the end with the final total.
    """
    hasher = _Hasher(on_progress, progress_every, head_bytes)
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.result()


async def sha256_async_chunks(
    chunks: AsyncIterable[bytes | bytearray | memoryview],
    *,
    on_progress: ProgressCallback | None = None,
    progress_every: int = DEFAULT_CHUNK_SIZE,
    head_bytes: int = SNIFF_BYTES,
) -> StreamDigest:
    """``sha256_chunks`` for an async byte stream (aiohttp/httpx style bodies)."""
    hasher = _Hasher(on_progress, progress_every, head_bytes)
    async for chunk in chunks:
        hasher.update(chunk)
    return hasher.result()


def read_chunks(reader: SupportsRead, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterable[bytes]:
    """Chunks from a ``read(n)`` object (an open file, an urllib3 response)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    while True:
        chunk = reader.read(chunk_size)
        if not chunk:
            return
        yield chunk


def sha256_reader(
    reader: SupportsRead,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: ProgressCallback | None = None,
    progress_every: int = DEFAULT_CHUNK_SIZE,
    head_bytes: int = SNIFF_BYTES,
) -> StreamDigest:
    return sha256_chunks(
        read_chunks(reader, chunk_size),
        on_progress=on_progress,
        progress_every=progress_every,
        head_bytes=head_bytes,
    )
