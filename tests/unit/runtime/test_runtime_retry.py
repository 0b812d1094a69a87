import random

import pytest
from aiokafka.errors import (  # type: ignore[import-untyped]
    KafkaConnectionError,
    NotLeaderForPartitionError,
    UnknownError,
)
from pydantic import BaseModel, ValidationError
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from shopwatch.runtime.retry import PoisonMessage, TransientError, backoff_delays, is_transient


class Model(BaseModel):
    x: int


def validation_error() -> ValidationError:
    try:
        Model.model_validate({"x": "nope"})
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "exc",
    [
        TransientError("smtp 421"),
        AutoReconnect("primary stepped down"),
        ServerSelectionTimeoutError("no servers"),
        NetworkTimeout("timed out"),
        KafkaConnectionError("broker gone"),
        NotLeaderForPartitionError(),
        TimeoutError(),
        ConnectionRefusedError(),
        # What FerretDB answers a query in flight when it stops (seen in CI's fault run).
        OperationFailure(
            "[query_iterator.go:79 sqlite.(*queryIterator).Next] context canceled after delay",
            code=1,
        ),
    ],
)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad"),
        KeyError("k"),
        validation_error(),
        DuplicateKeyError("dup"),
        OperationFailure("unauthorized", code=13),
        OperationFailure("[sqlite] no such column", code=1),
        UnknownError(),
        PoisonMessage("unknown case"),
    ],
)
def test_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_mongo_retryable_label_is_transient() -> None:
    exc = OperationFailure("write conflict", code=112)
    exc._add_error_label("TransientTransactionError")
    assert is_transient(exc)


def test_service_can_add_its_own_transient_types() -> None:
    class SmtpBusy(Exception):
        pass

    assert not is_transient(SmtpBusy())
    assert is_transient(SmtpBusy(), (SmtpBusy,))


def test_backoff_grows_is_capped_and_jittered() -> None:
    delays = list(backoff_delays(6, initial_s=0.1, max_s=0.5, rng=random.Random(1)))
    assert len(delays) == 5  # waits between 6 attempts
    ceilings = [0.1, 0.2, 0.4, 0.5, 0.5]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_single_attempt_has_no_waits() -> None:
    assert list(backoff_delays(1, initial_s=1, max_s=1)) == []
