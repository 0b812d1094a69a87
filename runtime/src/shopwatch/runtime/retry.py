"""Which handler errors are worth retrying, and how long to wait between attempts.

Following zulip's email workers: retry only errors KNOWN to be transient (the database
or the broker is unreachable or busy right now). Anything else is a bug or bad data;
retrying it only delays the dead letter and holds up the partition behind it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from shopwatch.runtime.kafka_clients import KAFKA_TRANSIENT_ERRORS, is_retriable_kafka_error


class TransientError(Exception):
    """Raise from a handler when a retry may succeed (a dependency is briefly down)."""


class PoisonMessage(Exception):
    """Raise from a handler when the event can never be processed (dead-letter it now)."""


# ConnectionFailure covers AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError.
BUILTIN_TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientError,
    ConnectionFailure,
    TimeoutError,
    ConnectionError,
    *KAFKA_TRANSIENT_ERRORS,
)

# Labels MongoDB puts on errors that a retry of the same operation may cure.
_RETRYABLE_MONGO_LABELS = ("RetryableWriteError", "TransientTransactionError")

# FerretDB answers a request that was in flight when it was told to stop with code 1
# (InternalError) and "context canceled", not with MongoDB's shutdown codes (which PyMongo
# already turns into a ConnectionFailure). Measured against the local FerretDB under
# load: 3 of 15 stops answered a request so; in CI's fault run, a consumer dead-lettered
# a good event for it. Other InternalErrors stay permanent: they are bugs, and retrying
# them would only hold the partition up.
_MONGO_INTERNAL_ERROR = 1
_FERRETDB_SHUTDOWN_MESSAGES = ("context canceled",)


def _is_database_shutting_down(exc: BaseException) -> bool:
    return (
        isinstance(exc, OperationFailure)
        and exc.code == _MONGO_INTERNAL_ERROR
        and any(message in str(exc) for message in _FERRETDB_SHUTDOWN_MESSAGES)
    )


def is_transient(exc: BaseException, extra: tuple[type[BaseException], ...] = ()) -> bool:
    """True for errors a retry may cure; `extra` adds a service's own (e.g. SMTP 4xx)."""
    if isinstance(exc, PoisonMessage):
        return False
    if isinstance(exc, BUILTIN_TRANSIENT_ERRORS + extra):
        return True
    if isinstance(exc, PyMongoError) and any(
        exc.has_error_label(label) for label in _RETRYABLE_MONGO_LABELS
    ):
        return True
    if _is_database_shutting_down(exc):
        return True
    return is_retriable_kafka_error(exc)


def backoff_delays(
    attempts: int,
    *,
    initial_s: float,
    max_s: float,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """The waits before attempts 2..`attempts`: exponential, capped, with jitter.

    "Equal jitter" (half fixed, half random) keeps a floor on each wait while spreading
    the retries of many consumers that failed together when a dependency went down.
    """
    chance = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    for retry in range(attempts - 1):
        ceiling = min(max_s, initial_s * (2**retry))
        yield ceiling / 2 + chance.uniform(0, ceiling / 2)
