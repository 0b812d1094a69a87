"""SHA-256 of an S3 object at the speed of the slower of the network and the hash.

Reading and hashing one after the other costs the sum of both; here a reader thread
fills a small ring of preallocated buffers with ``readinto`` while the calling thread
hashes the previous ones (``hashlib`` and socket reads both release the GIL). Memory is
``buffers x chunk_bytes`` whatever the object's size: 4 x 8 MiB by default.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from typing import Protocol

from shopwatch.evidence.hashing import StreamDigest
from shopwatch.evidence.media_types import SNIFF_BYTES


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int: ...


class Cancelled(Exception):
    """``should_stop`` asked to give up (e.g. the worker lost its lease)."""


_END = object()


def hash_stream(
    reader: Readable,
    *,
    chunk_bytes: int = 8 * 1024 * 1024,
    buffers: int = 4,
    head_bytes: int = SNIFF_BYTES,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[int], None] | None = None,
) -> StreamDigest:
    if buffers < 2 or chunk_bytes < 1:
        raise ValueError("need at least two buffers of at least one byte")
    free: queue.Queue[bytearray] = queue.Queue()
    full: queue.Queue[tuple[bytearray, int] | object] = queue.Queue()
    for _ in range(buffers):
        free.put(bytearray(chunk_bytes))
    stop = threading.Event()
    failure: list[BaseException] = []

    def read_all() -> None:
        try:
            while not stop.is_set():
                buf = free.get()
                if stop.is_set():
                    break
                view = memoryview(buf)
                filled = 0
                while filled < chunk_bytes:
                    got = reader.readinto(view[filled:])
                    if not got:
                        break
                    filled += got
                if filled:
                    full.put((buf, filled))
                if filled < chunk_bytes:
                    break
        except BaseException as exc:
            failure.append(exc)
        finally:
            full.put(_END)

    thread = threading.Thread(target=read_all, name="evidence-hash-reader", daemon=True)
    thread.start()
    digest = hashlib.sha256()
    head = bytearray()
    size = 0
    try:
        while True:
            item = full.get()
            if item is _END:
                break
            assert isinstance(item, tuple)
            buf, filled = item
            view = memoryview(buf)[:filled]
            digest.update(view)
            if len(head) < head_bytes:
                head += view[: head_bytes - len(head)]
            size += filled
            free.put(buf)
            if on_progress is not None:
                on_progress(size)
            if should_stop():
                raise Cancelled
    finally:
        stop.set()
        free.put(bytearray(0))  # wake the reader if it waits for a buffer
        thread.join(timeout=30)
    if failure:
        raise failure[0]
    return StreamDigest(digest.hexdigest(), size, bytes(head))
