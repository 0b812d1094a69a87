"""Dead letters: where they go, what they carry, and when to stop sending them.

A dead letter is the original record, byte for byte (value, key and headers), on
`<topic>.dlq`, plus headers that say why: error type and message, where it came from
(topic, partition, offset), who gave up on it (group) and after how many attempts. An
operator can read it, fix the cause, and replay the value onto the original topic.

The rate limit is arroyo's lesson (getsentry/arroyo `dlq.py`): when many messages fail
in a short time, the cause is almost never the messages (it is an outage or a bug), and
dead-lettering them all would empty the topic into the DLQ. Past the limit the consumer
stops instead, with its position uncommitted, and resumes where it was once fixed.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shopwatch.schemas.topics import DLQ_SUFFIX

H_ERROR_TYPE = "dlq-error-type"
H_ERROR_MESSAGE = "dlq-error-message"
H_REASON = "dlq-reason"
H_ORIGINAL_TOPIC = "dlq-original-topic"
H_ORIGINAL_PARTITION = "dlq-original-partition"
H_ORIGINAL_OFFSET = "dlq-original-offset"
H_CONSUMER_GROUP = "dlq-consumer-group"
H_ATTEMPTS = "dlq-attempts"
H_FAILED_AT = "dlq-failed-at"

H_VALUE_TRUNCATED = "dlq-value-truncated"  # the original value's size, when it was cut
H_ORIGINAL_SHA256 = "dlq-original-sha256"  # of the whole original value, when it was cut
H_HEADERS_DROPPED = "dlq-original-headers-dropped"  # their size, when they were dropped
H_KEY_TRUNCATED = "dlq-key-truncated"  # the original key's size, when it was cut

# Error messages can be long (validation errors list every field); headers are not
# the place for a novel, and the original value is there to reproduce it.
MAX_ERROR_MESSAGE = 2000

# A letter is the original plus headers, so a poison message at the size limit (the
# broker's default message.max.bytes and a default producer's max_request_size are both
# about 1 MiB) made a letter that could never be published: redelivered for ever, it held
# up every message behind it. Past this size the value is cut, and the letter says so with
# the original's size and hash; the whole record is still on the source topic, at the
# offset the letter names.
MAX_LETTER_BYTES = 1_000_000
MAX_ORIGINAL_HEADER_BYTES = 64 * 1024
MAX_KEY_BYTES = 64 * 1024


def dlq_topic(topic: str) -> str:
    """`<topic>.dlq`, for a physical (already prefixed) topic name.

    The contract's `topics.dlq_topic` applies the same rule and also checks the topic
    is registered with a DLQ; the service wiring checks that once at start-up, while
    this stays usable for any topic (tests use their own).
    """
    return f"{topic}{DLQ_SUFFIX}"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, str]


def build_dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes,
    original_headers: Mapping[str, str],
    group: str,
    reason: str,
    error: BaseException,
    attempts: int,
    now: datetime | None = None,
) -> DeadLetter:
    message = str(error) or repr(error)
    headers = dict(original_headers)
    if _size(headers) > MAX_ORIGINAL_HEADER_BYTES:
        headers = {H_HEADERS_DROPPED: str(_size(headers))}
    headers.update(
        {
            H_REASON: reason,
            H_ERROR_TYPE: f"{type(error).__module__}.{type(error).__qualname__}",
            H_ERROR_MESSAGE: message[:MAX_ERROR_MESSAGE],
            H_ORIGINAL_TOPIC: topic,
            H_ORIGINAL_PARTITION: str(partition),
            H_ORIGINAL_OFFSET: str(offset),
            H_CONSUMER_GROUP: group,
            H_ATTEMPTS: str(attempts),
            H_FAILED_AT: (now or datetime.now(UTC)).isoformat(),
        }
    )
    if key is not None and len(key) > MAX_KEY_BYTES:
        headers[H_KEY_TRUNCATED] = str(len(key))
        key = key[:MAX_KEY_BYTES]
    if len(value) + len(key or b"") + _size(headers) > MAX_LETTER_BYTES:
        headers[H_VALUE_TRUNCATED] = str(len(value))
        headers[H_ORIGINAL_SHA256] = hashlib.sha256(value).hexdigest()
        value = value[: max(0, MAX_LETTER_BYTES - len(key or b"") - _size(headers))]
    return DeadLetter(topic=dlq_topic(topic), key=key, value=value, headers=headers)


def _size(headers: Mapping[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in headers.items())


class DeadLetterPublisher(Protocol):
    async def publish(self, letter: DeadLetter) -> None:
        """Write the letter and return only once the broker has acknowledged it."""


class DeadLetterRateLimiter:
    """Allows at most `max_per_window` dead letters in any sliding `window_s`."""

    def __init__(
        self,
        max_per_window: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_per_window < 0 or window_s <= 0:
            raise ValueError("max_per_window must be >= 0 and window_s > 0")
        self.max_per_window = max_per_window
        self.window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()

    def try_acquire(self) -> bool:
        """Record one dead letter if the limit allows it; False means stop consuming."""
        now = self._clock()
        self._expire(now)
        if len(self._sent) >= self.max_per_window:
            return False
        self._sent.append(now)
        return True

    @property
    def in_window(self) -> int:
        self._expire(self._clock())
        return len(self._sent)
